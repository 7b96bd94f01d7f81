"""Record validation: the one place that decides which records are kept.

Connectors, recording ingest and every store call :func:`validate_records`; it returns the
accepted records, one dead letter per rejected value (naming the signal, the value, the rule
it broke and, when known, the file line) and a :class:`WriteReport` that accounts for every
value offered.

Rules, whatever the input path:

- the signal must be declared, and be of the record's kind (events may sit on any signal);
- timestamps lie in ``[limits.min_timestamp_ns, now + limits.max_future_ns]``;
- scalars are finite unless the signal allows NaN (a bad-quality sample may be NaN) and
  inside the signal's ``valid_range``;
- waveforms are numeric, non-empty, have the signal's channel count and fit the size limit;
  images are non-empty, fit the size limit and carry text attributes; events have a kind;
- one value per key: (signal, timestamp) for scalars, waveforms and images, (signal,
  timestamp, kind) for events. A repeat with identical data is a duplicate (counted, kept
  once); a repeat with *different* data is a conflict: the first one is kept and the other
  is dead-lettered, so no measurement is lost without a trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.model.limits import ValidationLimits
from shopfloor.model.quality import Quality
from shopfloor.model.records import (
    DeadLetter,
    EventRecord,
    ImageRecord,
    Record,
    ScalarBatch,
    WaveformBlock,
)
from shopfloor.model.signal import Signal, SignalKind, SignalRef
from shopfloor.model.timestamps import format_ns, now_ns

__all__ = [
    "RecordValidator",
    "Rejection",
    "Validation",
    "ValidationLimits",
    "WriteReport",
    "check_image_attributes",
    "conflict_letter",
    "dead_letters_for_rows",
    "describe_record",
    "event_attributes_json",
    "image_attributes_json",
    "record_key",
    "same_data",
    "scalar_conflict_letters",
    "validate_records",
    "waveform_bytes",
]

Locate = Callable[[int, int], str]
"""``(index of the record in the input, row of a scalar batch) -> location`` (``file:line``)."""


@dataclass(slots=True)
class WriteReport:
    """What happened to the values offered in one write.

    ``offered == written + duplicates + rejected`` always holds, where a conflict (same
    key, different value) is also counted in ``rejected``.
    """

    offered: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    conflicts: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: WriteReport) -> None:
        """Accumulate ``other`` into this report."""
        self.offered += other.offered
        self.written += other.written
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.conflicts += other.conflicts
        for reason, count in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count

    def reject(self, reason: str, count: int = 1) -> None:
        """Count ``count`` rejected values under ``reason`` (a short category)."""
        self.rejected += count
        self.reasons[reason] = self.reasons.get(reason, 0) + count

    def conflict(self, count: int = 1) -> None:
        """Count ``count`` conflicting values (rejected under ``conflict``)."""
        self.conflicts += count
        self.reject("conflict", count)

    @property
    def balanced(self) -> bool:
        """True when every offered value is accounted for."""
        return self.offered == self.written + self.duplicates + self.rejected


@dataclass(frozen=True, slots=True)
class Rejection:
    """Rows of a scalar batch that broke one rule."""

    rows: npt.NDArray[np.intp]
    category: str
    reason: str


class RecordValidator:
    """Checks single records against the signal definitions.

    Parameters
    ----------
    lookup
        Returns the :class:`Signal` of a reference, or ``None`` when it is not declared.
    limits
        Timestamp window and payload size limits.
    clock
        Returns "now" in UTC nanoseconds (a parameter so tests can pin it).

    Examples
    --------
    >>> from shopfloor.model import Provenance
    >>> ref = SignalRef("a/b/c/d/e/f", "speed")
    >>> validator = RecordValidator({ref: Signal(name="speed")}.get, ValidationLimits())
    >>> batch = ScalarBatch.of(ref, [now_ns(), now_ns()], [1.0, float("nan")],
    ...                        Provenance("demo"))
    >>> [(r.category, r.rows.tolist()) for r in validator.check_scalars(batch)[1]]
    [('not_finite', [1])]
    """

    def __init__(
        self,
        lookup: Callable[[SignalRef], Signal | None],
        limits: ValidationLimits | None = None,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self._lookup = lookup
        self._limits = limits or ValidationLimits()
        self._clock = clock

    def _ts_window(self) -> tuple[int, int]:
        return self._limits.min_timestamp_ns, self._clock() + self._limits.max_future_ns

    def _known(self, ref: SignalRef, kind: SignalKind | None) -> tuple[Signal | None, str, str]:
        """Return ``(signal, category, reason)``; ``signal`` is ``None`` when refused."""
        signal = self._lookup(ref)
        if signal is None:
            return None, "unknown_signal", f"unknown signal {ref.path!r} (not declared)"
        if kind is not None and signal.kind != kind:
            return (
                None,
                "wrong_kind",
                f"signal {ref.path!r} is a {signal.kind} signal, got a {kind} record",
            )
        return signal, "", ""

    def check_scalars(self, batch: ScalarBatch) -> tuple[Signal | None, list[Rejection]]:
        """Return the signal and the rejected rows of ``batch`` (rows not listed are fine)."""
        n = len(batch)
        signal, category, reason = self._known(batch.signal, SignalKind.SCALAR)
        if signal is None:
            return None, [Rejection(np.arange(n), category, reason)]
        rejections: list[Rejection] = []
        lo, hi = self._ts_window()
        taken = (batch.ts_ns < lo) | (batch.ts_ns > hi)
        if taken.any():
            rejections.append(
                Rejection(
                    np.flatnonzero(taken),
                    "timestamp_out_of_range",
                    f"timestamp outside {format_ns(lo)} .. {format_ns(hi)} (now + "
                    f"{self._limits.max_future_ns / 1e9:g} s)",
                )
            )
        if not signal.allow_nan:
            # a bad-quality sample without a usable value is kept as NaN with its quality
            not_finite = ~np.isfinite(batch.values) & ~taken & (batch.quality != Quality.BAD)
            if not_finite.any():
                rejections.append(
                    Rejection(
                        np.flatnonzero(not_finite),
                        "not_finite",
                        f"NaN or infinity not allowed for {batch.signal.path!r}",
                    )
                )
                taken = taken | not_finite
        if signal.valid_range is not None:
            low, high = signal.valid_range
            with np.errstate(invalid="ignore"):
                outside = ((batch.values < low) | (batch.values > high)) & ~taken
            if outside.any():
                rejections.append(
                    Rejection(
                        np.flatnonzero(outside),
                        "out_of_range",
                        f"outside the valid range [{low:g}, {high:g}] of {batch.signal.path!r}",
                    )
                )
        return signal, rejections

    def check_record(self, record: WaveformBlock | ImageRecord | EventRecord) -> tuple[str, str]:
        """Return ``(category, reason)`` for one record; ``category`` is ``""`` when fine."""
        if isinstance(record, WaveformBlock):
            return self._check_waveform(record)
        if isinstance(record, ImageRecord):
            return self._check_image(record)
        return self._check_event(record)

    def _check_waveform(self, block: WaveformBlock) -> tuple[str, str]:
        signal, category, reason = self._known(block.signal, SignalKind.WAVEFORM)
        if signal is None:
            return category, reason
        lo, hi = self._ts_window()
        if not lo <= block.t0_ns <= hi:
            return (
                "timestamp_out_of_range",
                f"block start {format_ns(block.t0_ns)} outside {format_ns(lo)} .. {format_ns(hi)}",
            )
        if block.data.size > self._limits.max_waveform_samples:
            return (
                "oversized",
                f"block of {block.data.size} samples exceeds the limit of "
                f"{self._limits.max_waveform_samples}",
            )
        if block.data.dtype.kind not in "fiub":
            return "bad_type", f"waveform data of dtype {block.data.dtype} is not numeric"
        if block.n_samples == 0:
            return "bad_shape", "empty waveform block"
        if block.n_channels != signal.n_channels:
            return (
                "bad_shape",
                f"block has {block.n_channels} channels, signal {block.signal.path!r} "
                f"has {signal.n_channels}",
            )
        if (
            not signal.allow_nan
            and block.data.dtype.kind == "f"
            and not np.isfinite(block.data).all()
        ):
            bad = int((~np.isfinite(block.data)).sum())
            return "not_finite", f"{bad} NaN or infinite samples in the block"
        return "", ""

    def _check_image(self, image: ImageRecord) -> tuple[str, str]:
        signal, category, reason = self._known(image.signal, SignalKind.IMAGE)
        if signal is None:
            return category, reason
        lo, hi = self._ts_window()
        if not lo <= image.ts_ns <= hi:
            return "timestamp_out_of_range", f"image time {format_ns(image.ts_ns)} out of range"
        if len(image.data) > self._limits.max_image_bytes:
            return (
                "oversized",
                f"image of {len(image.data)} bytes exceeds the limit of "
                f"{self._limits.max_image_bytes}",
            )
        if len(image.data) == 0:
            return "bad_shape", "empty image"
        return check_image_attributes(image.attributes)

    def _check_event(self, event: EventRecord) -> tuple[str, str]:
        signal, category, reason = self._known(event.signal, None)
        if signal is None:
            return category, reason
        lo, hi = self._ts_window()
        if not lo <= event.ts_ns <= hi:
            return "timestamp_out_of_range", f"event time {format_ns(event.ts_ns)} out of range"
        if not event.kind:
            return "bad_shape", "event without a kind"
        return "", ""


@dataclass(slots=True)
class Validation:
    """What :func:`validate_records` decided.

    Attributes
    ----------
    accepted
        The records to store, in input order; scalar batches keep only their good rows.
    letters
        One dead letter per rejected value.
    report
        ``offered``, ``duplicates``, ``rejected`` and ``conflicts`` (nothing is written yet).
    rejected_by_signal
        Rejected values per signal.
    """

    accepted: list[Record] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    report: WriteReport = field(default_factory=WriteReport)
    rejected_by_signal: dict[SignalRef, int] = field(default_factory=dict)

    def _rejected(self, ref: SignalRef, count: int) -> None:
        self.rejected_by_signal[ref] = self.rejected_by_signal.get(ref, 0) + count


def validate_records(
    records: Sequence[Record],
    validator: RecordValidator,
    *,
    source: str | None = None,
    locate: Locate | None = None,
    keep_repeats: bool = False,
) -> Validation:
    """Check ``records``; return the accepted ones, the dead letters and the counts.

    Parameters
    ----------
    records
        What was offered.
    validator
        The signal definitions and limits to check against.
    source
        The dead letters' source (default: each record's connector).
    locate
        Names where a scalar row came from (``file.csv:12``), so a rejection names its line.
    keep_repeats
        Pass records that repeat a key through unchanged (the store resolves them later),
        instead of counting duplicates and dead-lettering conflicts here.

    Returns
    -------
    Validation
        ``report.offered == len(accepted values) + report.duplicates + report.rejected``.
    """
    out = Validation()
    report = out.report
    received = now_ns()
    firsts: dict[tuple[Any, ...], WaveformBlock | ImageRecord | EventRecord] = {}
    for index, record in enumerate(records):
        if isinstance(record, ScalarBatch):
            report.offered += len(record)
            if len(record) == 0:
                continue
            where = None if locate is None else _bind(locate, index)
            _, rejections = validator.check_scalars(record)
            accepted = record
            if rejections:
                bad = np.zeros(len(record), dtype=bool)
                for rejection in rejections:
                    bad[rejection.rows] = True
                    report.reject(rejection.category, len(rejection.rows))
                    out.letters.extend(
                        dead_letters_for_rows(record, rejection, where, source, received)
                    )
                out._rejected(record.signal, int(bad.sum()))
                accepted = record.take(~bad)
            if not keep_repeats:
                accepted = _drop_repeats(accepted, rejections, out, where, source, received)
            if len(accepted):
                out.accepted.append(accepted)
            continue
        report.offered += 1
        category, reason = validator.check_record(record)
        if category:
            report.reject(category)
            out._rejected(record.signal, 1)
            out.letters.append(_letter(record, category, reason, source, received))
            continue
        key = record_key(record)
        first = None if keep_repeats else firsts.get(key)
        if first is None:
            firsts[key] = record
            out.accepted.append(record)
        elif same_data(first, record):
            report.duplicates += 1
        else:
            report.conflict()
            out._rejected(record.signal, 1)
            out.letters.append(conflict_letter(record, "the first one offered", source, received))
    return out


def _bind(locate: Locate, index: int) -> Callable[[int], str]:
    return lambda row: locate(index, row)


def _drop_repeats(
    batch: ScalarBatch,
    rejections: list[Rejection],
    out: Validation,
    where: Callable[[int], str] | None,
    source: str | None,
    received: int,
) -> ScalarBatch:
    """Keep the first row of each timestamp; count identical repeats, dead-letter the rest."""
    ts = batch.ts_ns
    if ts.shape[0] < 2 or bool(np.all(ts[1:] > ts[:-1])):
        return batch
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    first = np.ones(ts.shape[0], dtype=bool)
    first[1:] = sorted_ts[1:] != sorted_ts[:-1]
    if first.all():
        return batch
    group_start = np.maximum.accumulate(np.where(first, np.arange(ts.shape[0]), 0))
    repeat_rows = order[~first]
    first_rows = order[group_start[~first]]
    same = _same_values(batch.values[repeat_rows], batch.values[first_rows])
    out.report.duplicates += int(same.sum())
    conflicts = repeat_rows[~same]
    if conflicts.shape[0]:
        out.report.conflict(int(conflicts.shape[0]))
        out._rejected(batch.signal, int(conflicts.shape[0]))
        # rows of ``batch`` map back to input rows when earlier rows were rejected
        rows = _input_rows(len(batch), rejections)
        out.letters.extend(
            scalar_conflict_letters(
                batch.signal,
                batch.ts_ns[conflicts],
                batch.values[conflicts],
                batch.values[first_rows[~same]],
                [batch.provenance] * int(conflicts.shape[0]),
                locations=None if where is None else [where(int(rows[r])) for r in conflicts],
                source=source,
                received_ns=received,
                old_label="the first value offered",
            )
        )
    return batch.take(np.sort(order[first]))


def _input_rows(n_kept: int, rejections: list[Rejection]) -> npt.NDArray[np.intp]:
    """Input row of each kept row, given the rows ``rejections`` took out."""
    if not rejections:
        return np.arange(n_kept)
    removed = np.unique(np.concatenate([r.rows for r in rejections]))
    total = n_kept + removed.shape[0]
    keep = np.ones(total, dtype=bool)
    keep[removed] = False
    return np.flatnonzero(keep)


def _same_values(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    same: npt.NDArray[np.bool_] = (a == b) | (np.isnan(a) & np.isnan(b))
    return same


MAX_IMAGE_ATTRIBUTES = 32
"""Attributes an image may carry."""
MAX_ATTRIBUTE_CHARS = 1024
"""Longest attribute value (keys: 64 characters)."""


def check_image_attributes(attributes: Any) -> tuple[str, str]:
    """``(category, reason)`` of an image's attributes; ``("", "")`` when they are fine.

    They must be a mapping of at most :data:`MAX_IMAGE_ATTRIBUTES` non-empty text keys
    (64 characters at most) to text values (:data:`MAX_ATTRIBUTE_CHARS` at most).

    Examples
    --------
    >>> check_image_attributes({"part_id": "42", "label": "good"})
    ('', '')
    >>> check_image_attributes({"part_id": 42})[0]
    'bad_attributes'
    """
    if not isinstance(attributes, Mapping):
        return "bad_attributes", f"image attributes must be a mapping, got {attributes!r}"
    if len(attributes) > MAX_IMAGE_ATTRIBUTES:
        return (
            "bad_attributes",
            f"{len(attributes)} image attributes, at most {MAX_IMAGE_ATTRIBUTES} are kept",
        )
    for key, value in attributes.items():
        if not isinstance(key, str) or not 0 < len(key) <= 64:
            return "bad_attributes", f"image attribute name {key!r} is not a text of 1-64 chars"
        if not isinstance(value, str):
            return "bad_attributes", f"image attribute {key!r} is {value!r}, not text"
        if len(value) > MAX_ATTRIBUTE_CHARS:
            return (
                "bad_attributes",
                f"image attribute {key!r} has {len(value)} characters, more than "
                f"{MAX_ATTRIBUTE_CHARS}",
            )
    return "", ""


def image_attributes_json(image: ImageRecord) -> str:
    """The attributes of an image as stored (JSON, keys sorted)."""
    return json.dumps(dict(image.attributes), sort_keys=True)


def record_key(record: WaveformBlock | ImageRecord | EventRecord) -> tuple[Any, ...]:
    """The identity of a record: ``(signal, ts)``, plus the kind for events."""
    if isinstance(record, WaveformBlock):
        return (record.signal, record.t0_ns)
    if isinstance(record, ImageRecord):
        return (record.signal, record.ts_ns)
    return (record.signal, record.ts_ns, record.kind)


def waveform_bytes(block: WaveformBlock) -> bytes:
    """The samples as stored: little-endian, C order."""
    data = np.ascontiguousarray(block.data)
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("<"))
    return data.tobytes()


def event_attributes_json(event: EventRecord) -> str:
    """The attributes of an event as stored (JSON, keys sorted)."""
    return json.dumps(dict(event.attributes), default=str, sort_keys=True)


def same_data(
    a: WaveformBlock | ImageRecord | EventRecord, b: WaveformBlock | ImageRecord | EventRecord
) -> bool:
    """True when two records with the same key carry identical data (a true duplicate)."""
    if isinstance(a, WaveformBlock) and isinstance(b, WaveformBlock):
        return (
            a.sample_rate_hz == b.sample_rate_hz
            and a.data.shape == b.data.shape
            and a.data.dtype.newbyteorder("=") == b.data.dtype.newbyteorder("=")
            and waveform_bytes(a) == waveform_bytes(b)
        )
    if isinstance(a, ImageRecord) and isinstance(b, ImageRecord):
        return a.format == b.format and bytes(a.data) == bytes(b.data)
    if isinstance(a, EventRecord) and isinstance(b, EventRecord):
        return (
            a.message == b.message
            and a.severity == b.severity
            and event_attributes_json(a) == event_attributes_json(b)
        )
    return False


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def dead_letters_for_rows(
    batch: ScalarBatch,
    rejection: Rejection,
    where: Callable[[int], str] | None = None,
    source: str | None = None,
    received_ns: int | None = None,
) -> list[DeadLetter]:
    """One dead letter per rejected row of ``batch``, naming the value and the rule."""
    out = []
    prov = batch.provenance
    received = now_ns() if received_ns is None else received_ns
    for row in rejection.rows.tolist():
        value = float(batch.values[row])
        ts = int(batch.ts_ns[row])
        payload = json.dumps(
            {
                "signal": batch.signal.path,
                "ts_ns": ts,
                "value": value,
                "quality": int(batch.quality[row]),
            },
            default=_json_default,
        )
        out.append(
            DeadLetter(
                source=source or prov.connector,
                location=where(row) if where is not None else prov.address,
                reason=f"{rejection.reason}: value {value!r} at {format_ns(ts)}",
                payload=payload,
                received_ns=received,
                detail={"category": rejection.category, "signal": batch.signal.path},
            )
        )
    return out


def scalar_conflict_letters(
    ref: SignalRef,
    ts_ns: npt.NDArray[np.int64],
    new: npt.NDArray[np.float64],
    old: npt.NDArray[np.float64] | None,
    provenances: Sequence[Any],
    *,
    locations: Sequence[str] | None = None,
    source: str | None = None,
    received_ns: int | None = None,
    old_label: str = "stored value",
) -> list[DeadLetter]:
    """Dead letters for scalar values whose timestamp already holds a different value."""
    received = now_ns() if received_ns is None else received_ns
    out = []
    for i in range(ts_ns.shape[0]):
        prov = provenances[i]
        kept = "the value already stored" if old is None else f"{old_label} {float(old[i])!r}"
        out.append(
            DeadLetter(
                source=source or prov.connector,
                location=(locations[i] if locations is not None else (prov.address or ref.path)),
                reason=(
                    f"duplicate timestamp {format_ns(int(ts_ns[i]))} for {ref.path!r} "
                    f"with a different value {float(new[i])!r}; {kept} is kept "
                    "(first write wins)"
                ),
                payload=json.dumps(
                    {"signal": ref.path, "ts_ns": int(ts_ns[i]), "value": float(new[i])}
                ),
                received_ns=received,
                detail={"category": "conflict", "signal": ref.path},
            )
        )
    return out


def conflict_letter(
    record: WaveformBlock | ImageRecord | EventRecord,
    kept: str = "the one already stored",
    source: str | None = None,
    received_ns: int | None = None,
) -> DeadLetter:
    """A dead letter for a record whose key already holds different data."""
    what = {WaveformBlock: "waveform block", ImageRecord: "image"}.get(type(record), "event")
    ts = record.t0_ns if isinstance(record, WaveformBlock) else record.ts_ns
    extra = f" of kind {record.kind!r}" if isinstance(record, EventRecord) else ""
    return _letter(
        record,
        "conflict",
        f"{what}{extra} at {format_ns(ts)} for {record.signal.path!r} differs from "
        f"{kept} with the same timestamp; the first is kept (first write wins)",
        source,
        received_ns,
    )


def _letter(
    record: WaveformBlock | ImageRecord | EventRecord,
    category: str,
    reason: str,
    source: str | None,
    received_ns: int | None,
) -> DeadLetter:
    return DeadLetter(
        source=source or record.provenance.connector,
        location=record.provenance.address or record.signal.path,
        reason=reason,
        payload=describe_record(record),
        received_ns=now_ns() if received_ns is None else received_ns,
        detail={"category": category, "signal": record.signal.path},
    )


def describe_record(record: Record) -> str:
    """A short JSON description of a record, kept as a dead letter's payload."""
    if isinstance(record, ScalarBatch):
        return json.dumps(
            {
                "signal": record.signal.path,
                "n": len(record),
                "ts_ns": record.ts_ns[:16].tolist(),
                "values": record.values[:16].tolist(),
            },
            default=_json_default,
        )
    if isinstance(record, WaveformBlock):
        head = record.data.reshape(-1)[:16].tolist()
        return json.dumps(
            {
                "signal": record.signal.path,
                "t0_ns": record.t0_ns,
                "sample_rate_hz": record.sample_rate_hz,
                "shape": record.data.shape,
                "dtype": str(record.data.dtype),
                "head": head,
            },
            default=_json_default,
        )
    if isinstance(record, ImageRecord):
        return json.dumps(
            {
                "signal": record.signal.path,
                "ts_ns": record.ts_ns,
                "format": record.format,
                "shape": record.shape,
                "bytes": len(record.data),
                "attributes": dict(record.attributes),
            },
            default=_json_default,
        )
    return json.dumps(
        {
            "signal": record.signal.path,
            "ts_ns": record.ts_ns,
            "kind": record.kind,
            "message": record.message,
            "attributes": dict(record.attributes),
        },
        default=_json_default,
    )
