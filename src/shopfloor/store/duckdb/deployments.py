"""Deployments in the embedded store: the ``deployments`` and ``deployment_changes`` tables.

``deployments`` holds one row per (name, asset) in its latest desired state
(:class:`~shopfloor.model.deployment.Deployment`); ``deployment_changes`` the audit log,
one row per change. A deployment and the change that made it are written in one
transaction, so the log never misses a change. A store written before the tables existed
gets them when opened for writing; reads of a read-only one without them find none.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import duckdb

from shopfloor.model.deployment import Deployment, DeploymentChange
from shopfloor.store.duckdb.database import Database
from shopfloor.store.duckdb.schema import read_added_table

__all__ = ["log", "save", "select"]

Connection = duckdb.DuckDBPyConnection

_FIELDS = (
    "name, asset, model, version, mode, pipeline, running, previous, changed_by, "
    "epoch_ns(changed_ts), reason"
)
_CHANGE_FIELDS = "id, action, name, asset, epoch_ns(at_ts), who, from_ref, to_ref, reason, mode"


async def save(db: Database, deployment: Deployment, change: DeploymentChange) -> None:
    """Insert or replace ``deployment`` and append ``change``, in one transaction."""
    d, c = deployment, change

    def run(con: Connection) -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "INSERT OR REPLACE INTO deployments VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, make_timestamp_ns(?), ?)",
                [
                    d.name,
                    d.asset,
                    d.model,
                    d.version,
                    d.mode,
                    d.pipeline,
                    d.running,
                    json.dumps(list(d.previous)),
                    d.changed_by,
                    d.changed_ns,
                    d.reason,
                ],
            )
            con.execute(
                "INSERT INTO deployment_changes (action, name, asset, at_ts, who, from_ref, "
                "to_ref, reason, mode) VALUES (?, ?, ?, make_timestamp_ns(?), ?, ?, ?, ?, ?)",
                [c.action, c.name, c.asset, c.at_ns, c.who, c.from_ref, c.to_ref, c.reason, c.mode],
            )
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise

    await db.run_write(run, "save deployment")


def _where(name: str | None, asset: str | None) -> tuple[str, list[Any]]:
    where, params = ["TRUE"], []
    if name is not None:
        where.append("name = ?")
        params.append(name)
    if asset is not None:
        where.append("asset = ?")
        params.append(asset)
    return " AND ".join(where), params


async def select(db: Database, *, name: str | None, asset: str | None) -> list[Deployment]:
    """Deployments by name then asset."""
    where, params = _where(name, asset)
    rows = await read_added_table(
        db,
        f"SELECT {_FIELDS} FROM deployments WHERE {where} ORDER BY name, asset",
        params,
        "read deployments",
    )
    return [
        Deployment(
            name=str(r[0]),
            asset=str(r[1]),
            model=str(r[2]),
            version=int(r[3]),
            mode=r[4],
            pipeline=str(r[5]),
            running=bool(r[6]),
            previous=tuple(json.loads(r[7])),
            changed_by=str(r[8]),
            changed_ns=int(r[9]),
            reason=str(r[10]),
        )
        for r in rows
    ]


async def log(
    db: Database, *, name: str | None, asset: str | None, limit: int | None
) -> list[DeploymentChange]:
    """The audit log, newest first."""
    where, params = _where(name, asset)
    sql = (
        f"SELECT {_CHANGE_FIELDS} FROM deployment_changes WHERE {where} "
        "ORDER BY at_ts DESC, id DESC"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = await read_added_table(db, sql, params, "read deployment log")
    return [
        DeploymentChange(
            id=int(r[0]),
            action=r[1],
            name=str(r[2]),
            asset=str(r[3]),
            at_ns=int(r[4]),
            who=str(r[5]),
            from_ref=r[6],
            to_ref=r[7],
            reason=str(r[8]),
            mode=r[9],
        )
        for r in rows
    ]
