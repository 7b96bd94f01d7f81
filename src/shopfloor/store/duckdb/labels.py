"""Labels in the embedded store: reads and writes of the ``annotations`` table.

The table (:mod:`.schema`) holds one row per labelled range: ``id, asset, signal (NULL:
the whole asset), start_ts, end_ts, label, comment, created_by, created_ts``. A store
written before it existed gets it when opened for writing; reads of a read-only one
without it find no labels.
"""

from __future__ import annotations

import duckdb

from shopfloor.model import Annotation
from shopfloor.store.duckdb.database import Database
from shopfloor.store.duckdb.schema import first

__all__ = ["add", "delete", "select"]

Connection = duckdb.DuckDBPyConnection

_COLUMNS = (
    "id, asset, signal, epoch_ns(start_ts), epoch_ns(end_ts), label, comment, created_by, "
    "epoch_ns(created_ts)"
)


async def add(db: Database, annotation: Annotation) -> Annotation:
    """Insert ``annotation``; return it with its new id."""
    a = annotation

    def run(con: Connection) -> int:
        row = first(
            con.execute(
                "INSERT INTO annotations (asset, signal, start_ts, end_ts, label, comment, "
                "created_by, created_ts) VALUES (?, ?, make_timestamp_ns(?), "
                "make_timestamp_ns(?), ?, ?, ?, make_timestamp_ns(?)) RETURNING id",
                [
                    a.asset,
                    a.signal,
                    a.start_ns,
                    a.end_ns,
                    a.label,
                    a.comment,
                    a.created_by,
                    a.created_ns,
                ],
            ).fetchall()
        )
        assert row is not None  # RETURNING gives the inserted row
        return int(row[0])

    return a.with_id(await db.run_write(run, "add label"))


async def select(
    db: Database,
    *,
    asset: str | None,
    start_ns: int | None,
    end_ns: int | None,
    label: str | None,
) -> list[Annotation]:
    """Annotations of ``asset`` (or below it) overlapping ``[start_ns, end_ns)``."""
    where: list[str] = ["TRUE"]
    params: list[str | int] = []
    if asset is not None:
        where.append("(asset = ? OR starts_with(asset, ?))")
        params += [asset, asset.rstrip("/") + "/"]
    if start_ns is not None:
        where.append("end_ts > make_timestamp_ns(?)")
        params.append(start_ns)
    if end_ns is not None:
        where.append("start_ts < make_timestamp_ns(?)")
        params.append(end_ns)
    if label is not None:
        where.append("label = ?")
        params.append(label)
    sql = f"SELECT {_COLUMNS} FROM annotations WHERE {' AND '.join(where)} ORDER BY start_ts, id"

    def run(con: Connection) -> list[tuple[object, ...]]:
        try:
            return con.execute(sql, params).fetchall()
        except duckdb.CatalogException:  # a read-only store from before labels existed
            return []

    rows = await db.run_read(run, "read labels")
    return [
        Annotation(
            asset=str(r[1]),
            signal=None if r[2] is None else str(r[2]),
            start_ns=int(r[3]),  # type: ignore[call-overload]
            end_ns=int(r[4]),  # type: ignore[call-overload]
            label=str(r[5]),
            comment=str(r[6]),
            created_by=str(r[7]),
            created_ns=int(r[8]),  # type: ignore[call-overload]
            id=int(r[0]),  # type: ignore[call-overload]
        )
        for r in rows
    ]


async def delete(db: Database, annotation_id: int) -> bool:
    """Delete annotation ``annotation_id``; ``False`` when there was none."""

    def run(con: Connection) -> bool:
        row = first(con.execute("DELETE FROM annotations WHERE id = ?", [annotation_id]).fetchall())
        return bool(row and int(row[0]))

    return await db.run_write(run, "delete label")
