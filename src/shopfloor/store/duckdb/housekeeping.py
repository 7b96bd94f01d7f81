"""Retention (deleting what is older than each signal keeps) and statistics."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import duckdb

from shopfloor.model import SignalRef
from shopfloor.store.duckdb.database import Database
from shopfloor.store.duckdb.schema import TABLES, first
from shopfloor.store.protocol import StoreStats

__all__ = ["apply_retention", "delete_range", "stats"]

log = logging.getLogger(__name__)

Connection = duckdb.DuckDBPyConnection

_COUNTED = ("signals", "scalars", "waveforms", "images", "events", "dead_letters")


async def apply_retention(db: Database, now_ns: int) -> dict[str, int]:
    """Delete data older than each signal's ``retention_days`` and old dead letters."""

    def run(con: Connection) -> dict[str, int]:
        deleted: dict[str, int] = {}
        for info in list(db.catalog.signals.values()):
            retention = info.definition.retention_s
            if retention is None:
                continue
            cutoff = now_ns - int(retention * 1e9)
            row = first(
                con.execute(
                    f"DELETE FROM {TABLES[info.kind]} WHERE signal_id = ? "
                    "AND ts < make_timestamp_ns(?)",
                    [info.id, cutoff],
                ).fetchall()
            )
            if row and int(row[0]):
                deleted[info.ref.path] = int(row[0])
        cutoff = now_ns - int(db.config.dead_letter_retention_days * 86400e9)
        row = first(
            con.execute(
                "DELETE FROM dead_letters WHERE received_ts < make_timestamp_ns(?)", [cutoff]
            ).fetchall()
        )
        if row and int(row[0]):
            deleted["dead_letters"] = int(row[0])
        return deleted

    deleted = await db.run_write(run, "retention")
    if deleted:
        log.info("store.retention deleted=%s", deleted)
    return deleted


async def delete_range(db: Database, ref: SignalRef, start_ns: int, end_ns: int) -> int:
    """Delete the values of ``ref`` in ``[start_ns, end_ns)``; return how many.

    For replacing derived outputs (``shopfloor pipelines run --rescore``), never raw data.
    """
    info = db.catalog.info(ref)

    def run(con: Connection) -> int:
        row = first(
            con.execute(
                f"DELETE FROM {TABLES[info.kind]} WHERE signal_id = ? "
                "AND ts >= make_timestamp_ns(?) AND ts < make_timestamp_ns(?)",
                [info.id, start_ns, end_ns],
            ).fetchall()
        )
        return int(row[0]) if row else 0

    deleted = await db.run_write(run, "delete")
    if deleted:
        log.info("store.deleted signal=%s rows=%d", ref.path, deleted)
    return deleted


async def stats(db: Database) -> StoreStats:
    """Row counts per table and the file size."""

    def read(con: Connection) -> dict[str, int]:
        out = {}
        for table in _COUNTED:
            row = first(con.execute(f"SELECT count(*) FROM {table}").fetchall())
            out[table] = int(row[0]) if row else 0
        return out

    rows = await db.run_read(read)
    size = 0
    if db.path != ":memory:":
        size = (await asyncio.to_thread(Path(db.path).stat)).st_size
    return StoreStats(rows=rows, size_bytes=size, location=db.path)
