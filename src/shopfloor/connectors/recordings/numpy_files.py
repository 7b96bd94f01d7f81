"""NumPy recordings: ``.npy`` (one array) and ``.npz`` (named arrays).

- ``.npy``: one array, memory-mapped; its columns are the sources, named ``1``, ``2``, ...
  (``*`` for all); a structured array's sources are its field names.
- ``.npz``: the sources are the array names (globs and ``re:`` expressions work); each
  array is loaded when it is mapped.

Pickled objects are never loaded (``allow_pickle=False``): an object array is a dead letter.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.connectors.recordings.arrayfile import (
    ArrayFileReader,
    UnreadableFile,
    samples_first,
)
from shopfloor.connectors.recordings.blocks import block_layout
from shopfloor.model import SignalRef

__all__ = ["NpyReader", "NpzReader", "open_numpy"]

_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, TypeError)


class NpyReader(ArrayFileReader):
    """Read the columns of a ``.npy`` array into waveform blocks."""

    what = "column"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._array: npt.NDArray[Any] | None = None

    def _open(self) -> npt.NDArray[Any]:
        if self._array is None:
            try:
                array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except _ERRORS as err:
                raise UnreadableFile(f"not a readable .npy file: {err}") from err
            if not isinstance(array, np.ndarray):
                if hasattr(array, "close"):
                    array.close()
                raise UnreadableFile("an .npz archive, not a .npy array")
            self._array = array
        return self._array

    def names(self) -> list[str]:
        """Field names of a structured array, else column numbers ``1``, ``2``, ..."""
        array = self._open()
        if array.dtype.names:
            return list(array.dtype.names)
        columns = samples_first(array, self.path.name)
        return [str(i + 1) for i in range(1 if columns.ndim == 1 else columns.shape[1])]

    def load(self, names: list[str]) -> dict[str, npt.NDArray[Any]]:
        """Views of the chosen columns (or fields) of the memory map."""
        array = self._open()
        if array.dtype.names:
            return {n: array[n] for n in names}
        columns = samples_first(array, self.path.name)
        if columns.ndim == 1:
            return {"1": columns}
        return {n: columns[:, int(n) - 1] for n in names}

    def close(self) -> None:
        """Drop the memory map."""
        self._array = None


class NpzReader(ArrayFileReader):
    """Read named arrays of a ``.npz`` archive into waveform blocks."""

    what = "variable"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._archive: Any = None

    def _open(self) -> Any:
        if self._archive is None:
            try:
                self._archive = np.load(self.path, allow_pickle=False)
            except _ERRORS as err:
                raise UnreadableFile(f"not a readable .npz file: {err}") from err
            if not hasattr(self._archive, "files"):
                self.close()
                raise UnreadableFile("a .npy array, not an .npz archive")
        return self._archive

    def names(self) -> list[str]:
        """Array names, in the archive's order."""
        return [str(n) for n in self._open().files]

    def load(self, names: list[str]) -> dict[str, npt.NDArray[Any]]:
        """Load the chosen arrays."""
        archive = self._open()
        out = {}
        for name in names:
            try:
                out[name] = np.asarray(archive[name])
            except _ERRORS as err:
                raise UnreadableFile(f"array {name!r} cannot be read: {err}") from err
        return out

    def close(self) -> None:
        """Close the archive."""
        if self._archive is not None:
            archive, self._archive = self._archive, None
            if hasattr(archive, "close"):
                archive.close()


def open_numpy(
    path: Path, columns: Mapping[str, SignalRef], options: Mapping[str, Any], connector: str
) -> ArrayFileReader:
    """Open a ``.npy`` or ``.npz`` recording (options: start, rate_hz, block_s, scale, unit)."""
    layout = block_layout("npy", options, rate_required=True)
    cls = NpzReader if path.name.lower().endswith(".npz") else NpyReader
    return cls(path, columns, layout, connector=connector)
