"""Time inside shopfloor: UTC nanoseconds since the Unix epoch.

Records carry ``int64`` nanoseconds (numpy ``datetime64[ns]`` without a zone, read as
UTC); ``datetime`` objects at the edges are always timezone-aware. Local time and shift
calendars exist only in config, reports and the UI.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "NS_PER_S",
    "format_ns",
    "now_ns",
    "parse_duration_s",
    "parse_time",
    "to_datetime",
    "to_ns",
]

NS_PER_S = 1_000_000_000


def now_ns() -> int:
    """Current UTC time in nanoseconds since the epoch."""
    return time.time_ns()


def to_ns(value: datetime | np.datetime64 | int | float | str) -> int:
    """Convert a time to UTC nanoseconds.

    Naive ``datetime`` values are refused: a timestamp without a zone is ambiguous.

    Examples
    --------
    >>> to_ns("2024-01-01T00:00:00Z")
    1704067200000000000
    """
    if isinstance(value, str):
        return to_ns(parse_time(value))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone")
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000
    import numpy as np  # here, so that reading the clock or a config imports no numpy

    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").astype(np.int64))
    if isinstance(value, bool):
        raise TypeError("a boolean is not a time")
    if isinstance(value, int):
        return value
    return round(value * NS_PER_S)


def to_datetime(ns: int) -> datetime:
    """Convert UTC nanoseconds to an aware ``datetime`` (microsecond resolution)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def format_ns(ns: int) -> str:
    """ISO 8601 text of UTC nanoseconds, with as many fraction digits (3, 6 or 9) as needed.

    Examples
    --------
    >>> format_ns(1704067200000000000)
    '2024-01-01T00:00:00Z'
    >>> format_ns(1704067200000000001)
    '2024-01-01T00:00:00.000000001Z'
    """
    import numpy as np

    text = str(np.datetime64(int(ns), "ns"))
    date, _, frac_part = text.partition(".")
    frac = frac_part.rstrip("0")
    if not frac:
        return f"{date}Z"
    digits = -(-len(frac) // 3) * 3  # milli-, micro- or nanoseconds
    return f"{date}.{frac.ljust(digits, '0')}Z"


_RELATIVE = re.compile(r"^(now)?\s*(?:-\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|min|h|d|w))?$")
_UNIT_S = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def parse_duration_s(text: str) -> float:
    """Parse ``500ms``, ``10s``, ``5min``, ``2h``, ``1d`` (or a bare number of seconds).

    Examples
    --------
    >>> parse_duration_s("5min")
    300.0
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|min|h|d|w)?\s*", text)
    if not match:
        raise ValueError(f"duration {text!r} is not like 500ms, 10s, 5min, 2h or 1d")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 time (``Z`` or an offset; no zone means UTC) or ``now-1h``.

    Examples
    --------
    >>> parse_time("2024-01-01T06:00:00+02:00").isoformat()
    '2024-01-01T04:00:00+00:00'
    """
    stripped = text.strip()
    relative = _RELATIVE.fullmatch(stripped)
    if relative and (relative.group(1) or relative.group(2)):
        base = now or datetime.now(UTC)
        if relative.group(2) is None:
            return base
        return base - timedelta(seconds=float(relative.group(2)) * _UNIT_S[relative.group(3)])
    try:
        parsed = datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError as err:
        raise ValueError(
            f"time {text!r} is not ISO 8601 (2024-01-31T08:00:00Z) or relative (now-1h)"
        ) from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
