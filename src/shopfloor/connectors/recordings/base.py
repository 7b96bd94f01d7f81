"""What every recording reader produces: chunks of records with their source locations.

Readers are plain blocking iterators (file parsing is CPU and disk work); the ingest loop
runs them off the event loop. A reader never drops input: a row it cannot parse becomes a
dead letter naming the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from shopfloor.model import DeadLetter, Record, ScalarBatch

__all__ = ["Chunk", "RecordingReader"]


@dataclass
class Chunk:
    """A piece of a recording.

    Attributes
    ----------
    scalars
        Scalar batches with, for each row, where it came from (a line number, or a row
        number for binary formats), so later rejections can name it.
    records
        Other records (waveform blocks, images, events).
    rejected
        Input the reader could not turn into records.
    rows
        Input rows (or items) this chunk covers, rejected ones included.
    blank
        Blank lines skipped (counted, not dead-lettered: they carry no value).
    progress
        Units done so far (bytes or files, as the reader's ``total``).
    """

    scalars: list[tuple[ScalarBatch, npt.NDArray[np.int64]]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    rejected: list[DeadLetter] = field(default_factory=list)
    rows: int = 0
    blank: int = 0
    progress: int = 0


class RecordingReader(Protocol):
    """A recording file (or folder) that can be read in chunks."""

    path: Path
    """What is read."""
    total: int
    """Total units (bytes or files) for a progress bar."""

    def chunks(self) -> Iterator[Chunk]:
        """Read the recording, chunk by chunk (blocking)."""
