"""Alerts in the embedded store: the ``alerts`` and ``alert_changes`` tables.

``alerts`` holds one row per alert in its latest state (:class:`~shopfloor.model.Alert`);
``alert_changes`` one row per change of it, in order. An alert and the change that made
it are written in one transaction, so the history never misses a state. A store written
before the tables existed gets them when opened for writing; reads of a read-only one
without them find no alerts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import duckdb

from shopfloor.model.alert import Alert, AlertChange, AlertState
from shopfloor.store.duckdb.database import Database
from shopfloor.store.duckdb.schema import first
from shopfloor.store.duckdb.schema import read_added_table as _read

__all__ = ["changes", "get", "save", "select"]

Connection = duckdb.DuckDBPyConnection

_FIELDS = (
    "rule",
    "asset",
    "signal",
    "severity",
    "state",
    "message",
    "value",
    "opened_ts",
    "updated_ts",
    "resolved_ts",
    "shelved_until_ts",
    "raised_count",
    "verdict",
    "verdict_comment",
    "verdict_by",
    "verdict_ts",
    "label_id",
)
_TIMES = {"opened_ts", "updated_ts", "resolved_ts", "shelved_until_ts", "verdict_ts"}
_SELECT = "id, " + ", ".join(f"epoch_ns({f})" if f in _TIMES else f for f in _FIELDS)


def _params(a: Alert) -> list[Any]:
    return [
        a.rule,
        a.asset,
        a.signal,
        a.severity,
        str(a.state),
        a.message,
        a.value,
        a.opened_ns,
        a.updated_ns,
        a.resolved_ns,
        a.shelved_until_ns,
        a.raised_count,
        a.verdict,
        a.verdict_comment,
        a.verdict_by,
        a.verdict_ns,
        a.label_id,
    ]


def _placeholder(field: str) -> str:
    return "make_timestamp_ns(?)" if field in _TIMES else "?"


def _alert(row: tuple[Any, ...]) -> Alert:
    values = dict(zip(("id", *_FIELDS), row, strict=True))

    def ns(key: str) -> int | None:
        value = values[key]
        return None if value is None else int(value)

    return Alert(
        id=int(values["id"]),
        rule=str(values["rule"]),
        asset=str(values["asset"]),
        signal=values["signal"],
        severity=str(values["severity"]),
        state=AlertState(values["state"]),
        message=str(values["message"]),
        value=values["value"],
        opened_ns=int(values["opened_ts"]),
        updated_ns=int(values["updated_ts"]),
        resolved_ns=ns("resolved_ts"),
        shelved_until_ns=ns("shelved_until_ts"),
        raised_count=int(values["raised_count"]),
        verdict=values["verdict"],
        verdict_comment=str(values["verdict_comment"]),
        verdict_by=str(values["verdict_by"]),
        verdict_ns=ns("verdict_ts"),
        label_id=None if values["label_id"] is None else int(values["label_id"]),
    )


async def save(db: Database, alert: Alert, change_list: Sequence[AlertChange]) -> Alert:
    """Insert (no id yet) or update ``alert`` with its changes, in one transaction."""

    def run(con: Connection) -> int:
        con.execute("BEGIN TRANSACTION")
        try:
            if alert.id is None:
                row = first(
                    con.execute(
                        f"INSERT INTO alerts ({', '.join(_FIELDS)}) VALUES "
                        f"({', '.join(_placeholder(f) for f in _FIELDS)}) RETURNING id",
                        _params(alert),
                    ).fetchall()
                )
                assert row is not None  # RETURNING gives the inserted row
                alert_id = int(row[0])
            else:
                alert_id = alert.id
                con.execute(
                    f"UPDATE alerts SET {', '.join(f'{f} = {_placeholder(f)}' for f in _FIELDS)} "
                    "WHERE id = ?",
                    [*_params(alert), alert_id],
                )
            for c in change_list:
                con.execute(
                    "INSERT INTO alert_changes VALUES (?, make_timestamp_ns(?), ?, ?, ?, ?, ?)",
                    [
                        alert_id,
                        c.at_ns,
                        c.who,
                        c.action,
                        None if c.from_state is None else str(c.from_state),
                        str(c.to_state),
                        c.comment,
                    ],
                )
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        return alert_id

    return alert.with_id(await db.run_write(run, "save alert"))


async def get(db: Database, alert_id: int) -> Alert | None:
    """Alert ``alert_id``, or ``None``."""
    rows = await _read(db, f"SELECT {_SELECT} FROM alerts WHERE id = ?", [alert_id], "read alert")
    return _alert(rows[0]) if rows else None


async def select(
    db: Database,
    *,
    states: Sequence[AlertState] | None,
    asset: str | None,
    rule: str | None,
    limit: int | None,
) -> list[Alert]:
    """Alerts in ``states`` of ``asset`` (or below it) and ``rule``, newest first."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if states is not None:
        where.append(f"state IN ({', '.join('?' for _ in states)})")
        params += [str(s) for s in states]
    if asset is not None:
        where.append("(asset = ? OR starts_with(asset, ?))")
        params += [asset, asset.rstrip("/") + "/"]
    if rule is not None:
        where.append("rule = ?")
        params.append(rule)
    sql = (
        f"SELECT {_SELECT} FROM alerts WHERE {' AND '.join(where)} ORDER BY opened_ts DESC, id DESC"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_alert(r) for r in await _read(db, sql, params, "read alerts")]


async def changes(db: Database, alert_id: int) -> list[AlertChange]:
    """The history of alert ``alert_id``, oldest first."""
    rows = await _read(
        db,
        "SELECT alert_id, epoch_ns(at_ts), who, action, from_state, to_state, comment "
        "FROM alert_changes WHERE alert_id = ? ORDER BY at_ts, rowid",
        [alert_id],
        "read alert history",
    )
    return [
        AlertChange(
            action=str(r[3]),
            at_ns=int(r[1]),
            who=str(r[2]),
            from_state=None if r[4] is None else AlertState(r[4]),
            to_state=AlertState(r[5]),
            comment=str(r[6]),
            alert_id=int(r[0]),
        )
        for r in rows
    ]
