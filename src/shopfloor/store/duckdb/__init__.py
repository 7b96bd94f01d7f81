"""The embedded store: one DuckDB file, no server, split by job behind :class:`DuckDBStore`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.store.duckdb.store import DuckDBStore
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.store.duckdb.store": ("DuckDBStore",),
        },
    )

__all__ = ["DuckDBStore"]
