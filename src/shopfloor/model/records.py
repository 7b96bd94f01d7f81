"""Records: what flows from connectors through the bus into the store and pipelines.

Every record carries its source timestamp, its ingest timestamp, a :class:`Quality` with
the raw OPC UA status code when there is one, and :class:`Provenance` (which connector,
which address). Scalars travel in columnar batches (numpy arrays), never one Python object
per sample on hot paths; waveforms are numpy arrays with their sample rate and unit
beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from shopfloor.model.provenance import Provenance
from shopfloor.model.quality import Quality
from shopfloor.model.signal import SignalRef
from shopfloor.model.timestamps import NS_PER_S, now_ns

__all__ = [
    "IMAGE_ATTRIBUTES",
    "DeadLetter",
    "EventRecord",
    "ImageRecord",
    "Provenance",
    "Record",
    "ScalarBatch",
    "ScalarSample",
    "WaveformBlock",
    "record_count",
    "record_nbytes",
]

I64: TypeAlias = npt.NDArray[np.int64]
F64: TypeAlias = npt.NDArray[np.float64]
U8: TypeAlias = npt.NDArray[np.uint8]
U32: TypeAlias = npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True)
class ScalarSample:
    """One scalar value; connectors build these, the bus and store take batches."""

    signal: SignalRef
    ts_ns: int
    value: float
    provenance: Provenance
    quality: Quality = Quality.GOOD
    status_code: int = 0
    ingest_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True, slots=True, eq=False)
class ScalarBatch:
    """Samples of one scalar signal, as parallel numpy arrays of equal length.

    Examples
    --------
    >>> ref = SignalRef("acme/p1/machining/l1/c1/cnc-01", "spindle_speed")
    >>> batch = ScalarBatch.of(ref, [0, 1_000_000_000], [1500.0, 1502.5],
    ...                        Provenance("example"))
    >>> len(batch), batch.values.dtype
    (2, dtype('float64'))
    """

    signal: SignalRef
    ts_ns: I64
    values: F64
    quality: U8
    status_code: U32
    ingest_ns: I64
    provenance: Provenance

    def __post_init__(self) -> None:
        n = self.ts_ns.shape[0]
        for name in ("values", "quality", "status_code", "ingest_ns"):
            arr = getattr(self, name)
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ValueError(
                    f"ScalarBatch for {self.signal}: {name} has shape {arr.shape}, expected ({n},)"
                )

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    @classmethod
    def of(
        cls,
        signal: SignalRef,
        ts_ns: Sequence[int] | npt.ArrayLike,
        values: Sequence[float] | npt.ArrayLike,
        provenance: Provenance,
        *,
        quality: Quality | npt.ArrayLike = Quality.GOOD,
        status_code: int | npt.ArrayLike = 0,
        ingest_ns: int | npt.ArrayLike | None = None,
    ) -> ScalarBatch:
        """Build a batch from array-likes, broadcasting scalar quality and status."""
        ts = np.ascontiguousarray(ts_ns, dtype=np.int64).reshape(-1)
        n = ts.shape[0]
        vals = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        qual = np.broadcast_to(np.asarray(quality, dtype=np.uint8), (n,)).copy()
        status = np.broadcast_to(np.asarray(status_code, dtype=np.uint32), (n,)).copy()
        ingest = np.broadcast_to(
            np.asarray(now_ns() if ingest_ns is None else ingest_ns, dtype=np.int64), (n,)
        ).copy()
        return cls(signal, ts, vals, qual, status, ingest, provenance)

    @classmethod
    def from_samples(cls, samples: Sequence[ScalarSample]) -> list[ScalarBatch]:
        """Group samples by (signal, provenance) into batches, keeping their order."""
        groups: dict[tuple[SignalRef, Provenance], list[ScalarSample]] = {}
        for sample in samples:
            groups.setdefault((sample.signal, sample.provenance), []).append(sample)
        out = []
        for (ref, prov), group in groups.items():
            out.append(
                cls(
                    ref,
                    np.fromiter((s.ts_ns for s in group), np.int64, len(group)),
                    np.fromiter((s.value for s in group), np.float64, len(group)),
                    np.fromiter((int(s.quality) for s in group), np.uint8, len(group)),
                    np.fromiter((s.status_code for s in group), np.uint32, len(group)),
                    np.fromiter((s.ingest_ns for s in group), np.int64, len(group)),
                    prov,
                )
            )
        return out

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_] | slice) -> ScalarBatch:
        """Return the rows selected by ``index`` (mask, positions or slice)."""
        return ScalarBatch(
            self.signal,
            self.ts_ns[index],
            self.values[index],
            self.quality[index],
            self.status_code[index],
            self.ingest_ns[index],
            self.provenance,
        )


@dataclass(frozen=True, slots=True, eq=False)
class WaveformBlock:
    """A block of samples at a fixed rate: ``data`` is ``(n_samples,)`` or ``(n, channels)``.

    Examples
    --------
    >>> ref = SignalRef("acme/p1/machining/l1/c1/cnc-01", "spindle_accel")
    >>> block = WaveformBlock(ref, 0, 25600.0, np.zeros((25600, 3)), "g",
    ...                       Provenance("example"))
    >>> block.n_samples, block.n_channels, block.duration_s
    (25600, 3, 1.0)
    """

    signal: SignalRef
    t0_ns: int
    sample_rate_hz: float
    data: npt.NDArray[Any]
    unit: str
    provenance: Provenance
    quality: Quality = Quality.GOOD
    status_code: int = 0
    ingest_ns: int = field(default_factory=now_ns)

    def __post_init__(self) -> None:
        if self.data.ndim not in (1, 2):
            raise ValueError(
                f"waveform {self.signal}: data must be 1-D or 2-D (samples, channels), "
                f"got shape {self.data.shape}"
            )
        if not self.sample_rate_hz > 0:
            raise ValueError(
                f"waveform {self.signal}: sample rate {self.sample_rate_hz} is not > 0"
            )

    @property
    def n_samples(self) -> int:
        """Samples per channel."""
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return 1 if self.data.ndim == 1 else int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        """Length of the block in seconds."""
        return self.n_samples / self.sample_rate_hz

    @property
    def end_ns(self) -> int:
        """Timestamp just after the last sample."""
        return self.t0_ns + round(self.n_samples * NS_PER_S / self.sample_rate_hz)

    def times_ns(self) -> I64:
        """Timestamp of every sample."""
        step = NS_PER_S / self.sample_rate_hz
        return self.t0_ns + np.round(np.arange(self.n_samples) * step).astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class ImageRecord:
    """One encoded image (PNG, JPEG, ...) with its pixel shape ``(height, width, channels)``.

    ``attributes`` holds text metadata of the image: the part id, barcode or label a
    camera or its file name gave it, the file it came from (see :data:`IMAGE_ATTRIBUTES`
    for the usual keys). They describe the image; identity and deduplication stay on
    ``(signal, ts_ns)`` with identical bytes.
    """

    signal: SignalRef
    ts_ns: int
    data: bytes
    format: str
    shape: tuple[int, int, int]
    provenance: Provenance
    quality: Quality = Quality.GOOD
    status_code: int = 0
    ingest_ns: int = field(default_factory=now_ns)
    attributes: Mapping[str, str] = field(default_factory=dict)


IMAGE_ATTRIBUTES = ("part_id", "barcode", "label", "source_file")
"""The attribute keys the platform itself sets on images (others may be added freely)."""


@dataclass(frozen=True, slots=True, eq=False)
class EventRecord:
    """Something that happened at an instant: a program change, an alarm, a data gap.

    ``signal`` is the event signal it belongs to or the signal it is about (a gap in
    ``spindle_speed`` is an event of kind ``gap`` on that signal).
    """

    signal: SignalRef
    ts_ns: int
    kind: str
    provenance: Provenance
    message: str = ""
    severity: str = "info"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    quality: Quality = Quality.GOOD
    ingest_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input that was rejected, kept with the reason so nothing is silently lost.

    Parameters
    ----------
    source
        Who received it: ``ingest``, a connector name, a topic.
    location
        Where exactly: ``file.csv:1234``, a node id, a topic.
    reason
        Why it was rejected, naming the field and value.
    payload
        The raw input as received (bytes or text).
    """

    source: str
    location: str
    reason: str
    payload: bytes | str = b""
    received_ns: int = field(default_factory=now_ns)
    detail: Mapping[str, Any] = field(default_factory=dict)


Record: TypeAlias = ScalarBatch | WaveformBlock | ImageRecord | EventRecord
"""Anything the bus carries and the store keeps."""


def record_count(records: Iterable[Record]) -> int:
    """Number of values in ``records``: samples of batches, one per block/image/event."""
    return sum(len(r) if isinstance(r, ScalarBatch) else 1 for r in records)


_RECORD_OVERHEAD = 256
"""Bytes counted for a record's Python objects (dataclass, reference, provenance) besides
its data: what a queue of many small records costs beyond their values."""


def record_nbytes(record: Record) -> int:
    """Approximate memory a record holds: its arrays or payload plus a fixed overhead.

    What bounded queues count so that 1,024 waveform blocks (600 MB) and 1,024 scalar
    batches (a few hundred kB) are not treated alike.

    Examples
    --------
    >>> import numpy as np
    >>> ref = SignalRef("acme/p1/machining/l1/c1/cnc-01", "spindle_accel")
    >>> record_nbytes(WaveformBlock(ref, 0, 25600.0, np.zeros((25600, 3)), "g",
    ...                             Provenance("example")))
    614656
    """
    if isinstance(record, WaveformBlock):
        return _RECORD_OVERHEAD + int(record.data.nbytes)
    if isinstance(record, ScalarBatch):
        arrays = (record.ts_ns, record.values, record.quality, record.status_code, record.ingest_ns)
        return _RECORD_OVERHEAD + sum(int(a.nbytes) for a in arrays)
    if isinstance(record, ImageRecord):
        return _RECORD_OVERHEAD + len(record.data)
    return _RECORD_OVERHEAD + len(record.message)
