"""The public recordings the ``eval/`` scripts use, read with the product's readers.

CWRU ``.mat`` files go through :class:`~shopfloor.connectors.recordings.MatReader`, FEMTO
archives of capture CSVs through :class:`~shopfloor.connectors.recordings.CaptureReader`,
exactly as ``shopfloor ingest`` reads them; the blocks are joined back into arrays here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shopfloor.connectors.recordings import CaptureLayout, CaptureReader, MatReader
from shopfloor.connectors.recordings.blocks import BlockLayout
from shopfloor.model import BearingGeometry, SignalRef, WaveformBlock

__all__ = ["BEARING_6205", "CwruRecord", "cwru_index", "read_cwru", "read_femto"]

BEARING_6205 = BearingGeometry(
    n_elements=9, element_diameter_mm=7.94, pitch_diameter_mm=39.04, contact_angle_deg=0.0
)
"""CWRU drive-end SKF 6205-2RS JEM."""

_REF = SignalRef("eval/bearing", "acc")


@dataclass(frozen=True)
class CwruRecord:
    """One row of CWRU's ``index.csv``."""

    file: str
    fault: str
    diameter_in: float
    load_hp: int
    rpm: float
    fs_hz: float

    @property
    def fault_class(self) -> str:
        """``normal``, ``IR``, ``OR`` or ``B`` (``OR@6`` is ``OR``)."""
        return "OR" if self.fault.startswith("OR") else self.fault


def cwru_index(data: Path) -> list[CwruRecord]:
    """The records listed in ``data/index.csv``."""
    with open(data / "index.csv", newline="") as fh:
        return [
            CwruRecord(
                file=row["file"],
                fault=row["fault"],
                diameter_in=float(row["diameter_in"] or 0.0),
                load_hp=int(row["load_hp"]),
                rpm=float(row["rpm"]),
                fs_hz=float(row["fs_hz"]),
            )
            for row in csv.DictReader(fh)
        ]


def _join(blocks: list[WaveformBlock]) -> np.ndarray:
    blocks = sorted(blocks, key=lambda b: b.t0_ns)
    return np.concatenate([np.asarray(b.data, dtype=np.float64) for b in blocks])


def read_cwru(path: Path, rate_hz: float, channel: str = "*_DE_time") -> np.ndarray:
    """The drive-end accelerometer of one CWRU ``.mat`` record, in g."""
    reader = MatReader(path, {channel: _REF}, BlockLayout(start_ns=0, rate_hz=rate_hz, block_s=0))
    blocks: list[WaveformBlock] = []
    for chunk in reader.chunks():
        if chunk.rejected:
            raise ValueError(f"{path.name}: {chunk.rejected[0].reason}")
        blocks.extend(b for b in chunk.records if isinstance(b, WaveformBlock))
    return _join(blocks).ravel()


def read_femto(archive: Path) -> tuple[np.ndarray, np.ndarray]:
    """Capture times (s from the first) and data ``(n_captures, 2560, 2)`` of one bearing.

    Columns 5 and 6 (horizontal, vertical acceleration in g), 25.6 kHz, one capture every
    10 s in file-number order.
    """
    layout = CaptureLayout(rate_hz=25600.0, start_ns=0, interval_s=10.0, files="acc_*.csv")
    reader = CaptureReader(archive, {"5": _REF, "6": _REF}, layout)
    blocks: list[WaveformBlock] = []
    for chunk in reader.chunks():
        if chunk.rejected:
            raise ValueError(f"{archive.name}: {chunk.rejected[0].reason}")
        blocks.extend(b for b in chunk.records if isinstance(b, WaveformBlock))
    blocks.sort(key=lambda b: b.t0_ns)
    times = np.array([b.t0_ns for b in blocks], dtype=np.float64) / 1e9
    return times, np.stack([np.asarray(b.data, dtype=np.float64) for b in blocks])
