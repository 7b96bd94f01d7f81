"""OPC UA values into records: pure functions, property-tested with malformed input.

Every value either becomes a record or a reason to dead-letter it; nothing raises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from shopfloor.connectors.base import BoundSignal
from shopfloor.model import (
    EventRecord,
    Provenance,
    Quality,
    WaveformBlock,
)

__all__ = ["datetime_to_ns", "scalar_value", "to_event", "to_waveform"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_to_ns(value: datetime | None) -> int | None:
    """UTC nanoseconds of an OPC UA timestamp (naive values are UTC), or ``None``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def scalar_value(value: Any, quality: int) -> tuple[float | None, str | None]:
    """A number for a scalar signal, or ``(None, reason)``.

    Booleans become 0/1; a missing value under bad quality becomes NaN (kept with its
    quality); text that reads as a number is accepted.
    """
    if value is None:
        if quality == Quality.BAD:
            return math.nan, None
        return None, "no value"
    if isinstance(value, bool | np.bool_):
        return float(value), None
    if isinstance(value, int | float | np.integer | np.floating):
        try:
            return float(value), None
        except OverflowError:
            return None, f"value {value!r} does not fit a double"
    if isinstance(value, str):
        try:
            return float(value.strip()), None
        except ValueError:
            return None, f"text {value[:80]!r} is not a number"
    return None, f"a {type(value).__name__} is not a number"


def to_waveform(
    bound: BoundSignal,
    values: Sequence[Any] | np.ndarray | Any,
    t0_ns: int,
    sample_rate_hz: float,
    provenance: Provenance,
    quality: Quality,
    status_code: int,
) -> tuple[WaveformBlock | None, str | None]:
    """A block from an array value, or ``(None, reason)``."""
    if values is None or isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        return (
            None,
            f"expected an array of numbers for waveform {bound.ref.name!r}, got "
            f"{type(values).__name__}",
        )
    try:
        data = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        return None, f"array for {bound.ref.name!r} is not numeric: {err}"
    if data.ndim != 1 or data.size == 0:
        return None, f"array for {bound.ref.name!r} has shape {data.shape}, expected (n,)"
    return WaveformBlock(
        bound.ref,
        t0_ns,
        sample_rate_hz,
        data,
        bound.definition.unit,
        provenance,
        quality,
        status_code,
    ), None


def to_event(
    bound: BoundSignal, value: Any, ts_ns: int, provenance: Provenance, quality: Quality
) -> EventRecord:
    """A value change of an event signal (program number, state text) as an event."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, str | int | float | bool) and value is not None:
        value = str(value)
    return EventRecord(
        bound.ref,
        ts_ns,
        "value_change",
        provenance,
        message=str(value)[:500],
        attributes={"value": value},
        quality=quality,
    )
