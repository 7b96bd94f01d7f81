"""Where records are kept: one :class:`Store` protocol, the embedded DuckDB default.

Record validation lives in :mod:`shopfloor.model.validation`; it is re-exported here for
callers that speak of stores.
"""

from shopfloor.model.validation import RecordValidator, ValidationLimits, WriteReport
from shopfloor.store.config import StoreConfig
from shopfloor.store.duckdb import DuckDBStore
from shopfloor.store.protocol import SignalInfo, Store, StoreStats

__all__ = [
    "DuckDBStore",
    "RecordValidator",
    "SignalInfo",
    "Store",
    "StoreConfig",
    "StoreStats",
    "ValidationLimits",
    "WriteReport",
]
