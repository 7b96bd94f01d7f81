"""Checks every record against its signal before it is stored, whatever the backend.

A rejected value is never dropped: the caller turns each :class:`Rejection` into a dead
letter naming the signal, the value and the rule it broke.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.model import (
    DeadLetter,
    EventRecord,
    ImageRecord,
    Quality,
    ScalarBatch,
    SignalKind,
    SignalRef,
    WaveformBlock,
    format_ns,
    now_ns,
)
from shopfloor.store.config import ValidationLimits
from shopfloor.store.protocol import SignalInfo

__all__ = ["RecordValidator", "Rejection", "dead_letters_for_rows", "describe_record"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Rows of a record that broke one rule."""

    rows: npt.NDArray[np.intp]
    category: str
    reason: str


class RecordValidator:
    """Validates records against the signals a store knows.

    Parameters
    ----------
    lookup
        Returns the :class:`SignalInfo` of a reference, or ``None`` when unknown.
    limits
        Timestamp window and payload size limits.
    clock
        Returns "now" in UTC nanoseconds (a parameter so tests can pin it).
    """

    def __init__(
        self,
        lookup: Callable[[SignalRef], SignalInfo | None],
        limits: ValidationLimits,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self._lookup = lookup
        self._limits = limits
        self._clock = clock

    def _ts_window(self) -> tuple[int, int]:
        return self._limits.min_timestamp_ns, self._clock() + self._limits.max_future_ns

    def _known(self, ref: SignalRef, kind: SignalKind) -> tuple[SignalInfo | None, str | None]:
        info = self._lookup(ref)
        if info is None:
            return None, f"unknown signal {ref.path!r} (not declared in the project)"
        if info.kind != kind:
            return None, f"signal {ref.path!r} is a {info.kind} signal, got a {kind} record"
        return info, None

    def check_scalars(self, batch: ScalarBatch) -> tuple[SignalInfo | None, list[Rejection]]:
        """Return the signal and the rejected rows of ``batch`` (rows not listed are fine)."""
        n = len(batch)
        info, problem = self._known(batch.signal, SignalKind.SCALAR)
        if info is None:
            category = (
                "unknown_signal" if problem and problem.startswith("unknown") else "wrong_kind"
            )
            return None, [Rejection(np.arange(n), category, problem or "")]
        rejections: list[Rejection] = []
        taken = np.zeros(n, dtype=bool)
        lo, hi = self._ts_window()
        bad_ts = (batch.ts_ns < lo) | (batch.ts_ns > hi)
        if bad_ts.any():
            rejections.append(
                Rejection(
                    np.flatnonzero(bad_ts),
                    "timestamp_out_of_range",
                    f"timestamp outside {format_ns(lo)} .. {format_ns(hi)} (now + "
                    f"{self._limits.max_future_ns / 1e9:g} s)",
                )
            )
            taken |= bad_ts
        definition = info.definition
        if not definition.allow_nan:
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
                taken |= not_finite
        if definition.valid_range is not None:
            low, high = definition.valid_range
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
        return info, rejections

    def check_waveform(self, block: WaveformBlock) -> tuple[SignalInfo | None, str | None, str]:
        """Return ``(info, category, reason)``; ``category`` is ``None`` when the block is fine."""
        info, problem = self._known(block.signal, SignalKind.WAVEFORM)
        if info is None:
            category = (
                "unknown_signal" if problem and problem.startswith("unknown") else "wrong_kind"
            )
            return None, category, problem or ""
        lo, hi = self._ts_window()
        if not lo <= block.t0_ns <= hi:
            return (
                info,
                "timestamp_out_of_range",
                (
                    f"block start {format_ns(block.t0_ns)} outside "
                    f"{format_ns(lo)} .. {format_ns(hi)}"
                ),
            )
        if block.data.size > self._limits.max_waveform_samples:
            return (
                info,
                "oversized",
                (
                    f"block of {block.data.size} samples exceeds the limit of "
                    f"{self._limits.max_waveform_samples}"
                ),
            )
        if block.data.dtype.kind not in "fiub":
            return info, "bad_type", f"waveform data of dtype {block.data.dtype} is not numeric"
        if block.n_samples == 0:
            return info, "bad_shape", "empty waveform block"
        expected = info.definition.n_channels
        if block.n_channels != expected:
            return (
                info,
                "bad_shape",
                (
                    f"block has {block.n_channels} channels, signal {block.signal.path!r} "
                    f"has {expected}"
                ),
            )
        if (
            not info.definition.allow_nan
            and block.data.dtype.kind == "f"
            and not np.isfinite(block.data).all()
        ):
            bad = int((~np.isfinite(block.data)).sum())
            return info, "not_finite", f"{bad} NaN or infinite samples in the block"
        return info, None, ""

    def check_image(self, image: ImageRecord) -> tuple[SignalInfo | None, str | None, str]:
        """Return ``(info, category, reason)`` for an image."""
        info, problem = self._known(image.signal, SignalKind.IMAGE)
        if info is None:
            category = (
                "unknown_signal" if problem and problem.startswith("unknown") else "wrong_kind"
            )
            return None, category, problem or ""
        lo, hi = self._ts_window()
        if not lo <= image.ts_ns <= hi:
            return (
                info,
                "timestamp_out_of_range",
                f"image time {format_ns(image.ts_ns)} out of range",
            )
        if len(image.data) > self._limits.max_image_bytes:
            return (
                info,
                "oversized",
                (
                    f"image of {len(image.data)} bytes exceeds the limit of "
                    f"{self._limits.max_image_bytes}"
                ),
            )
        if len(image.data) == 0:
            return info, "bad_shape", "empty image"
        return info, None, ""

    def check_event(self, event: EventRecord) -> tuple[SignalInfo | None, str | None, str]:
        """Return ``(info, category, reason)`` for an event (any signal kind may carry events)."""
        info = self._lookup(event.signal)
        if info is None:
            return None, "unknown_signal", f"unknown signal {event.signal.path!r}"
        lo, hi = self._ts_window()
        if not lo <= event.ts_ns <= hi:
            return (
                info,
                "timestamp_out_of_range",
                f"event time {format_ns(event.ts_ns)} out of range",
            )
        if not event.kind:
            return info, "bad_shape", "event without a kind"
        return info, None, ""


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def dead_letters_for_rows(
    batch: ScalarBatch,
    rejection: Rejection,
    locations: Mapping[int, str] | None = None,
) -> list[DeadLetter]:
    """One dead letter per rejected row of ``batch``, naming the value and the rule."""
    out = []
    prov = batch.provenance
    received = now_ns()
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
                source=prov.connector,
                location=(locations or {}).get(row, prov.address),
                reason=f"{rejection.reason}: value {value!r} at {format_ns(ts)}",
                payload=payload,
                received_ns=received,
                detail={"category": rejection.category, "signal": batch.signal.path},
            )
        )
    return out


def describe_record(record: ScalarBatch | WaveformBlock | ImageRecord | EventRecord) -> str:
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
            }
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
