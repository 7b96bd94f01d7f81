"""Where records are kept: one :class:`Store` protocol, the embedded DuckDB default."""

from shopfloor.store.config import StoreConfig, ValidationLimits
from shopfloor.store.embedded import DuckDBStore
from shopfloor.store.protocol import SignalInfo, Store, StoreStats, WriteReport
from shopfloor.store.validation import RecordValidator, Rejection, dead_letters_for_rows

__all__ = [
    "DuckDBStore",
    "RecordValidator",
    "Rejection",
    "SignalInfo",
    "Store",
    "StoreConfig",
    "StoreStats",
    "ValidationLimits",
    "WriteReport",
    "dead_letters_for_rows",
]
