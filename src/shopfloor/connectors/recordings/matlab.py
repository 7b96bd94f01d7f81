"""MATLAB ``.mat`` recordings (v4 to v7; not v7.3, which is HDF5) read with scipy.

Variables are picked by name, glob or ``re:`` expression (``*_DE_time``), so files whose
variable names carry a file number (CWRU's ``X097_DE_time``) need no per-file mapping.
Only the mapped variables are loaded (``scipy.io.whosmat`` lists them first). The file says
nothing about time: the sample rate and the start come from the options.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy.typing as npt
from scipy.io import loadmat, whosmat

from shopfloor.connectors.recordings.arrayfile import ArrayFileReader, UnreadableFile
from shopfloor.connectors.recordings.blocks import block_layout
from shopfloor.model import SignalRef

__all__ = ["MatReader", "open_mat"]


def _why(err: Exception) -> str:
    if isinstance(err, NotImplementedError) and "7.3" in str(err):
        return (
            "a MATLAB v7.3 (HDF5) file, which is not supported: save it with "
            "save(..., '-v7') or export the arrays to .npy"
        )
    return f"not a readable MATLAB file: {type(err).__name__}: {err}"


class MatReader(ArrayFileReader):
    """Read variables of a ``.mat`` file into waveform blocks (see :class:`ArrayFileReader`)."""

    what = "variable"

    def names(self) -> list[str]:
        """Variable names in the file's order."""
        try:
            listing = whosmat(str(self.path))
        except Exception as err:  # any failure of scipy's parser means: unreadable file
            raise UnreadableFile(_why(err)) from err
        return [str(name) for name, _shape, _cls in listing]

    def load(self, names: list[str]) -> dict[str, npt.NDArray[Any]]:
        """Load only ``names``."""
        try:
            content = loadmat(str(self.path), variable_names=names)
        except Exception as err:  # as in names()
            raise UnreadableFile(_why(err)) from err
        missing = [n for n in names if n not in content]
        if missing:
            raise UnreadableFile(f"variables {', '.join(missing)} could not be read")
        return {n: content[n] for n in names}


def open_mat(
    path: Path, columns: Mapping[str, SignalRef], options: Mapping[str, Any], connector: str
) -> MatReader:
    """Open a ``.mat`` recording (options: start, rate_hz, block_s, scale, unit)."""
    layout = block_layout("mat", options, rate_required=True)
    return MatReader(path, columns, layout, connector=connector)
