"""The embedded store: one DuckDB file, no server, split by job behind :class:`DuckDBStore`."""

from shopfloor.store.duckdb.store import DuckDBStore

__all__ = ["DuckDBStore"]
