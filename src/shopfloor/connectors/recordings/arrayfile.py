"""Recordings that are named numeric arrays (MATLAB ``.mat``, NumPy ``.npy``/``.npz``).

Each array is a series of samples at the rate the user gives: ``(n,)``, ``(n, 1)`` and
``(1, n)`` are one channel, ``(n, c)`` is ``c`` channels (samples along the longer axis, so
a ``(c, n)`` array with channels as rows reads the same). Arrays mapped to one signal
become its channels in the order of the mapping; they must have the same length. The
whole file becomes blocks of ``block_s`` seconds (see
:mod:`~shopfloor.connectors.recordings.blocks`).

Anything that makes the file unusable (not a readable file, no variable matching a
pattern, text or struct variables, lengths that differ) becomes one dead letter naming the
file and the reason; other files of the same ingest are still stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy.typing as npt

from shopfloor.connectors.recordings.base import Chunk
from shopfloor.connectors.recordings.blocks import (
    BlockLayout,
    cut_blocks,
    file_dead_letter,
    scaled_copy,
)
from shopfloor.connectors.recordings.sources import SourceMap
from shopfloor.errors import ConfigError
from shopfloor.model import Provenance, SignalRef

__all__ = ["ArrayFileReader", "UnreadableFile", "samples_first"]


class UnreadableFile(Exception):
    """The file (or one of its arrays) cannot be used; the message says why."""


def samples_first(array: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    """``array`` as ``(n,)`` or ``(n, channels)``, or ``UnreadableFile`` saying why not.

    Examples
    --------
    >>> import numpy as np
    >>> samples_first(np.zeros((1, 5)), "x").shape, samples_first(np.zeros((2, 5)), "x").shape
    ((5,), (5, 2))
    """
    kind = array.dtype.kind
    if kind == "c":
        raise UnreadableFile(f"variable {name!r} holds complex numbers")
    if kind not in "iufb":
        what = {"U": "text", "S": "text", "O": "a cell array or objects", "V": "a struct"}
        raise UnreadableFile(
            f"variable {name!r} holds {what.get(kind, str(array.dtype))}, not numbers"
        )
    if array.ndim > 2:
        raise UnreadableFile(
            f"variable {name!r} has shape {array.shape}; expected samples or samples x channels"
        )
    if array.size <= 1:
        raise UnreadableFile(
            f"variable {name!r} has shape {array.shape}: "
            + ("empty" if array.size == 0 else "a single value, not a series")
        )
    if array.ndim == 1:
        return array
    if 1 in array.shape:
        return array.reshape(-1)
    return array if array.shape[0] >= array.shape[1] else array.T


class ArrayFileReader:
    """Base of the readers of named arrays; subclasses list and load the arrays.

    Parameters
    ----------
    path
        The file.
    columns
        Variable (name, glob or ``re:`` expression) → signal.
    layout
        Start, rate, block length, scale and unit.
    connector
        Name recorded in provenance.
    """

    what = "variable"
    """What a source is called in messages."""

    def __init__(
        self,
        path: str | Path,
        columns: Mapping[str, SignalRef],
        layout: BlockLayout,
        *,
        connector: str = "ingest",
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no such file")
        if layout.rate_hz is None:
            raise ConfigError(f"{self.path}: give the sample rate (rate_hz)")
        self.sources = SourceMap(columns)
        self.layout = layout
        self.connector = connector
        self.total = self.path.stat().st_size

    def names(self) -> list[str]:
        """The names of the arrays in the file, in its order (``UnreadableFile`` if none)."""
        raise NotImplementedError

    def load(self, names: list[str]) -> dict[str, npt.NDArray[Any]]:
        """The arrays called ``names`` (``UnreadableFile`` when they cannot be read)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what :meth:`load` holds open."""

    def _reject(self, reason: str, category: str = "unreadable_file") -> Chunk:
        letter = file_dead_letter(self.connector, self.path, reason, category=category)
        return Chunk(rejected=[letter], rows=1, progress=self.total)

    def chunks(self) -> Iterator[Chunk]:
        """Read the mapped arrays and cut them into blocks."""
        try:
            try:
                names = self.names()
                matched, problems = self.sources.resolve(names, what=self.what)
                if problems:
                    yield self._reject("; ".join(problems), "unmapped_source")
                    return
                wanted = list(dict.fromkeys(n for chosen in matched.values() for n in chosen))
                arrays = {n: samples_first(a, n) for n, a in self.load(wanted).items()}
                groups = self._groups(matched, arrays)
            except UnreadableFile as err:
                yield self._reject(str(err))
                return
            assert self.layout.rate_hz is not None
            for index, (n, targets) in enumerate(groups.items()):
                provenance = {
                    ref: Provenance(self.connector, f"{self.path}#{','.join(matched[ref])}")
                    for ref in targets
                }
                for blocks, done in cut_blocks(
                    targets,
                    n,
                    layout=self.layout,
                    rate_hz=self.layout.rate_hz,
                    provenance=provenance,
                    convert=scaled_copy(self.layout.scale),
                ):
                    yield Chunk(
                        records=list(blocks),
                        rows=len(blocks) // len(targets),
                        progress=int(self.total * (index + done / n) / len(groups)),
                    )
        finally:
            self.close()

    def _groups(
        self, matched: dict[SignalRef, list[str]], arrays: dict[str, npt.NDArray[Any]]
    ) -> dict[int, dict[SignalRef, list[npt.NDArray[Any]]]]:
        """Signals grouped by their length (every channel of a signal has the same)."""
        groups: dict[int, dict[SignalRef, list[npt.NDArray[Any]]]] = {}
        for ref, chosen in matched.items():
            lengths = {name: int(arrays[name].shape[0]) for name in chosen}
            if len(set(lengths.values())) > 1:
                shown = ", ".join(f"{k} ({v} samples)" for k, v in lengths.items())
                raise UnreadableFile(
                    f"the {self.what}s of signal {ref.name!r} differ in length: {shown}"
                )
            n = next(iter(lengths.values()))
            groups.setdefault(n, {})[ref] = [arrays[name] for name in chosen]
        return groups
