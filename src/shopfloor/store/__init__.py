"""Where records are kept: one :class:`Store` protocol, the embedded DuckDB default.

Record validation lives in :mod:`shopfloor.model.validation`; it is re-exported here for
callers that speak of stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.model.validation import RecordValidator, ValidationLimits, WriteReport
    from shopfloor.store.config import StoreConfig
    from shopfloor.store.duckdb import DuckDBStore
    from shopfloor.store.protocol import (
        AlertStore,
        DeletingStore,
        SignalInfo,
        Store,
        StoreStats,
    )
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.model.validation": ("RecordValidator", "ValidationLimits", "WriteReport"),
            "shopfloor.store.config": ("StoreConfig",),
            "shopfloor.store.duckdb": ("DuckDBStore",),
            "shopfloor.store.protocol": (
                "AlertStore",
                "DeletingStore",
                "SignalInfo",
                "Store",
                "StoreStats",
            ),
        },
    )

__all__ = [
    "AlertStore",
    "DeletingStore",
    "DuckDBStore",
    "RecordValidator",
    "SignalInfo",
    "Store",
    "StoreConfig",
    "StoreStats",
    "ValidationLimits",
    "WriteReport",
]
