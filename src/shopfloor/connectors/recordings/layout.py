"""How a tabular recording maps to signals.

Which column is time, which columns are which signals, and how time is written.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from shopfloor.connectors.recordings.timeparse import LOCAL_TIME_CHOICES
from shopfloor.model import SignalRef

__all__ = ["TableLayout"]


@dataclass(frozen=True)
class TableLayout:
    """Column mapping of a CSV or Parquet recording.

    Give either ``time_column`` (with ``time_format`` and ``timezone`` for naive times)
    or ``start_ns`` and ``rate_hz`` (row *k* is at ``start + k / rate``; corrupt rows keep
    their slot, blank lines do not take one).

    Parameters
    ----------
    columns
        Column name (or 1-based number, as text, for files without a header) → signal.
    encoding
        Text encoding of CSV files (``cp1252`` for much Windows software).
    ambiguous, nonexistent
        Naive local times that a DST change makes ambiguous or nonexistent: ``raise``
        (reject the row), ``earliest`` or ``latest`` (see ``timeparse.LOCAL_TIME_CHOICES``).
    """

    columns: dict[str, SignalRef]
    time_column: str | None = None
    time_format: str = "iso"
    timezone: str = "UTC"
    ambiguous: str = "raise"
    nonexistent: str = "raise"
    start_ns: int | None = None
    rate_hz: float | None = None
    delimiter: str | None = None
    header: bool = True
    skip_rows: int = 0
    decimal: str = "."
    encoding: str = "utf-8"
    block_size: int = 4 * 1024 * 1024
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except LookupError as err:
            raise ValueError(f"encoding {self.encoding!r} is not a known text encoding") from err
        for name in ("ambiguous", "nonexistent"):
            if getattr(self, name) not in LOCAL_TIME_CHOICES:
                raise ValueError(
                    f"{name} must be one of {', '.join(LOCAL_TIME_CHOICES)}, "
                    f"got {getattr(self, name)!r}"
                )
        if not self.columns:
            raise ValueError("map at least one column to a signal")
        if self.time_column is None and (self.start_ns is None or self.rate_hz is None):
            raise ValueError("give a time column, or a start time and a rate")
        if self.time_column is not None and self.rate_hz is not None:
            raise ValueError("give a time column or a rate, not both")
        if self.rate_hz is not None and not self.rate_hz > 0:
            raise ValueError(f"rate must be > 0 Hz, got {self.rate_hz}")
        if self.time_column is not None and self.time_column in self.columns:
            raise ValueError(
                f"column {self.time_column!r} is the time column; it cannot be a signal"
            )
