"""Writing records and dead letters: validated, idempotent, all or nothing.

Idempotency without a primary-key index: a DuckDB ART index on (signal, ts) makes bulk
appends ~15x slower, so each write first probes the time range it covers (zone maps make
this cheap for appends, the common case) and only when that range already holds rows does
it anti-join against them, counting identical rows as duplicates and dead-lettering rows
whose data differs (conflicts; the first write wins).

A write is one transaction: on any failure nothing of it stays, and the error says what
failed in plain words (:mod:`shopfloor.store.duckdb.failures`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from shopfloor.model import (
    DeadLetter,
    EventRecord,
    ImageRecord,
    Record,
    RecordValidator,
    ScalarBatch,
    WaveformBlock,
    WriteReport,
    validate_records,
)
from shopfloor.model.validation import (
    conflict_letter,
    event_attributes_json,
    image_attributes_json,
    record_key,
    scalar_conflict_letters,
    waveform_bytes,
)
from shopfloor.store.duckdb.catalog import Catalog
from shopfloor.store.duckdb.schema import first

__all__ = ["insert_dead_letters", "ts_array", "write_records"]

Connection = duckdb.DuckDBPyConnection

_TS = pa.timestamp("ns")

SLICE_ROWS = 262_144
"""Rows compared with stored data at a time, so a large write fits a small memory_limit."""

_DIFFERS = {
    "waveforms": "i.payload IS DISTINCT FROM e.payload OR i.sample_rate_hz <> e.sample_rate_hz "
    "OR i.dtype <> e.dtype OR i.n_channels <> e.n_channels",
    "images": "i.payload IS DISTINCT FROM e.payload OR i.format <> e.format",
    "events": "i.message IS DISTINCT FROM e.message OR i.severity IS DISTINCT FROM e.severity "
    "OR CAST(i.attributes AS VARCHAR) IS DISTINCT FROM CAST(e.attributes AS VARCHAR)",
}
"""When a row with the same key holds different data (a conflict, not a duplicate)."""


def ts_array(ns: npt.NDArray[np.int64]) -> pa.Array:
    """Nanoseconds as an Arrow ``timestamp[ns]`` array."""
    return pa.array(ns, type=pa.int64()).view(_TS)


def write_records(
    con: Connection,
    catalog: Catalog,
    validator: RecordValidator,
    records: list[Record],
    clock: Callable[[], int],
) -> WriteReport:
    """Validate ``records`` and write them with their dead letters in one transaction."""
    checked = validate_records(records, validator)
    report, letters = checked.report, checked.letters
    scalars: list[ScalarBatch] = []
    keyed: dict[str, list[WaveformBlock | ImageRecord | EventRecord]] = {
        "waveforms": [],
        "images": [],
        "events": [],
    }
    for record in checked.accepted:
        if isinstance(record, ScalarBatch):
            scalars.append(record)
        elif isinstance(record, WaveformBlock):
            keyed["waveforms"].append(record)
        elif isinstance(record, ImageRecord):
            keyed["images"].append(record)
        else:
            keyed["events"].append(record)
    con.execute("BEGIN TRANSACTION")
    try:
        if scalars:
            report.add(_insert_scalars(con, catalog, scalars, letters, clock))
        for table, items in keyed.items():
            if items:
                report.add(_insert_keyed(con, catalog, table, items, letters, clock))
        if letters:
            insert_dead_letters(con, letters)
        con.execute("COMMIT")
    except BaseException:
        catalog.rollback()
        # after a fatal error DuckDB refuses even the rollback; the original error tells why
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    catalog.commit()
    return report


def _unregister(con: Connection, name: str) -> None:
    """Drop a registered view, quietly.

    After a failed statement DuckDB refuses even this; the first error (already being
    raised) is the one that tells why.
    """
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)


def _dedupe(
    ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.intp] | None, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Return (rows to keep or None for all, duplicate rows, conflicting rows)."""
    if ts.shape[0] < 2 or bool(np.all(ts[1:] > ts[:-1])):
        empty = np.empty(0, dtype=np.intp)
        return None, empty, empty
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    is_first = np.ones(ts.shape[0], dtype=bool)
    is_first[1:] = sorted_ts[1:] != sorted_ts[:-1]
    group_start = np.maximum.accumulate(np.where(is_first, np.arange(ts.shape[0]), 0))
    repeat_rows = order[~is_first]
    first_rows = order[group_start[~is_first]]
    a, b = values[repeat_rows], values[first_rows]
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.sort(order[is_first]), repeat_rows[same], repeat_rows[~same]


def _range_is_empty(con: Connection, table: str, ids: list[int], lo: int, hi: int) -> bool:
    row = first(
        con.execute(
            f"SELECT count(*) FROM {table} WHERE signal_id IN ({','.join(map(str, ids))}) "
            f"AND ts BETWEEN make_timestamp_ns({lo}) AND make_timestamp_ns({hi})"
        ).fetchall()
    )
    return row is None or int(row[0]) == 0


def _insert_scalars(
    con: Connection,
    catalog: Catalog,
    batches: list[ScalarBatch],
    letters: list[DeadLetter],
    clock: Callable[[], int],
) -> WriteReport:
    report = WriteReport()
    by_signal: dict[int, list[tuple[ScalarBatch, int]]] = {}
    for batch in batches:
        sid = catalog.signals[batch.signal].id
        by_signal.setdefault(sid, []).append((batch, catalog.provenance_id(con, batch.provenance)))
    tables = []
    for sid, group in by_signal.items():
        ts = np.concatenate([b.ts_ns for b, _ in group])
        values = np.concatenate([b.values for b, _ in group])
        quality = np.concatenate([b.quality for b, _ in group])
        status = np.concatenate([b.status_code for b, _ in group])
        ingest = np.concatenate([b.ingest_ns for b, _ in group])
        prov = np.concatenate([np.full(len(b), p, dtype=np.int32) for b, p in group])
        keep, dup_rows, conflict_rows = _dedupe(ts, values)
        if keep is not None:
            report.duplicates += len(dup_rows)
            if len(conflict_rows):
                report.conflict(len(conflict_rows))
                letters.extend(
                    scalar_conflict_letters(
                        catalog.signals_by_id[sid].ref,
                        ts[conflict_rows],
                        values[conflict_rows],
                        None,
                        [catalog.provenance_of(int(p)) for p in prov[conflict_rows]],
                        received_ns=clock(),
                    )
                )
            ts, values, quality, status, ingest, prov = (
                ts[keep],
                values[keep],
                quality[keep],
                status[keep],
                ingest[keep],
                prov[keep],
            )
        tables.append(
            pa.table(
                {
                    "signal_id": pa.array(np.full(ts.shape[0], sid, dtype=np.int32)),
                    "ts": ts_array(ts),
                    "value": pa.array(values, type=pa.float64()),
                    "quality": pa.array(quality, type=pa.uint8()),
                    "status_code": pa.array(status, type=pa.uint32()),
                    "ingest_ts": ts_array(ingest),
                    "provenance_id": pa.array(prov, type=pa.int32()),
                }
            )
        )
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    ids = list(by_signal)
    for start in range(0, table.num_rows, SLICE_ROWS):
        report.add(
            _insert_scalar_slice(con, catalog, table.slice(start, SLICE_ROWS), ids, letters, clock)
        )
    return report


def _insert_scalar_slice(
    con: Connection,
    catalog: Catalog,
    table: pa.Table,
    ids: list[int],
    letters: list[DeadLetter],
    clock: Callable[[], int],
) -> WriteReport:
    """Insert one slice of new scalar rows; compare with stored rows only where they overlap."""
    report = WriteReport()
    ts_col = table.column("ts").cast(pa.int64())
    lo = int(pc.min(ts_col).as_py())
    hi = int(pc.max(ts_col).as_py())
    con.register("_incoming", table)
    try:
        if _range_is_empty(con, "scalars", ids, lo, hi):
            con.execute("INSERT INTO scalars SELECT * FROM _incoming")
            report.written += table.num_rows
            return report
        existing = f"""(SELECT signal_id, ts, value FROM scalars WHERE signal_id IN
            ({",".join(map(str, ids))}) AND ts BETWEEN make_timestamp_ns({lo})
            AND make_timestamp_ns({hi}))"""
        clash = con.execute(f"""
            SELECT i.signal_id, epoch_ns(i.ts) AS ts, i.value AS new, e.value AS old,
                   i.provenance_id FROM _incoming i JOIN {existing} e USING (signal_id, ts)
            WHERE i.value IS DISTINCT FROM e.value""").fetchnumpy()
        inserted = first(
            con.execute(f"""
            INSERT INTO scalars SELECT i.* FROM _incoming i
            ANTI JOIN {existing} e USING (signal_id, ts)""").fetchall()
        )
        n_inserted = int(inserted[0]) if inserted else 0
    finally:
        _unregister(con, "_incoming")
    n_clash = len(clash["signal_id"])
    report.written += n_inserted
    if n_clash:
        report.conflict(n_clash)
    report.duplicates += table.num_rows - n_inserted - n_clash
    for sid in np.unique(clash["signal_id"]).tolist():
        rows = clash["signal_id"] == sid
        letters.extend(
            scalar_conflict_letters(
                catalog.signals_by_id[int(sid)].ref,
                np.asarray(clash["ts"][rows], dtype=np.int64),
                np.asarray(clash["new"][rows], dtype=np.float64),
                np.asarray(clash["old"][rows], dtype=np.float64),
                [catalog.provenance_of(int(p)) for p in clash["provenance_id"][rows]],
                received_ns=clock(),
            )
        )
    return report


def _table_of(
    con: Connection,
    catalog: Catalog,
    table: str,
    items: list[Any],
) -> pa.Table:
    ids = pa.array([catalog.signals[r.signal].id for r in items], type=pa.int32())
    provs = pa.array([catalog.provenance_id(con, r.provenance) for r in items], type=pa.int32())
    ingest = ts_array(np.array([r.ingest_ns for r in items], dtype=np.int64))
    quality = pa.array([int(r.quality) for r in items], type=pa.uint8())
    if table == "waveforms":
        return pa.table(
            {
                "signal_id": ids,
                "ts": ts_array(np.array([b.t0_ns for b in items], dtype=np.int64)),
                "sample_rate_hz": pa.array([b.sample_rate_hz for b in items], type=pa.float64()),
                "n_samples": pa.array([b.n_samples for b in items], type=pa.int32()),
                "n_channels": pa.array([b.n_channels for b in items], type=pa.int16()),
                "dtype": pa.array([b.data.dtype.newbyteorder("=").name for b in items]),
                "unit": pa.array([b.unit for b in items]),
                "quality": quality,
                "status_code": pa.array([b.status_code for b in items], type=pa.uint32()),
                "ingest_ts": ingest,
                "provenance_id": provs,
                "payload": pa.array([waveform_bytes(b) for b in items], type=pa.binary()),
            }
        )
    if table == "images":
        return pa.table(
            {
                "signal_id": ids,
                "ts": ts_array(np.array([r.ts_ns for r in items], dtype=np.int64)),
                "format": pa.array([r.format for r in items]),
                "height": pa.array([r.shape[0] for r in items], type=pa.int32()),
                "width": pa.array([r.shape[1] for r in items], type=pa.int32()),
                "channels": pa.array([r.shape[2] for r in items], type=pa.int16()),
                "quality": quality,
                "status_code": pa.array([r.status_code for r in items], type=pa.uint32()),
                "ingest_ts": ingest,
                "provenance_id": provs,
                "payload": pa.array([r.data for r in items], type=pa.binary()),
                "attributes": pa.array([image_attributes_json(r) for r in items]),
            }
        )
    return pa.table(
        {
            "signal_id": ids,
            "ts": ts_array(np.array([e.ts_ns for e in items], dtype=np.int64)),
            "kind": pa.array([e.kind for e in items]),
            "severity": pa.array([e.severity for e in items]),
            "message": pa.array([e.message for e in items]),
            "attributes": pa.array([event_attributes_json(e) for e in items]),
            "quality": quality,
            "ingest_ts": ingest,
            "provenance_id": provs,
        }
    )


def _insert_keyed(
    con: Connection,
    catalog: Catalog,
    table_name: str,
    items: list[WaveformBlock | ImageRecord | EventRecord],
    letters: list[DeadLetter],
    clock: Callable[[], int],
) -> WriteReport:
    """Insert records whose key is new; identical ones are duplicates, others conflicts."""
    report = WriteReport()
    table = _table_of(con, catalog, table_name, items)
    ids = sorted({catalog.signals[r.signal].id for r in items})
    ts_col = table.column("ts").cast(pa.int64())
    lo, hi = int(pc.min(ts_col).as_py()), int(pc.max(ts_col).as_py())
    con.register("_incoming", table)
    try:
        if _range_is_empty(con, table_name, ids, lo, hi):
            con.execute(f"INSERT INTO {table_name} SELECT * FROM _incoming")
            report.written += table.num_rows
            return report
        key = "signal_id, ts, kind" if table_name == "events" else "signal_id, ts"
        existing = f"""(SELECT * FROM {table_name} WHERE signal_id IN ({",".join(map(str, ids))})
            AND ts BETWEEN make_timestamp_ns({lo}) AND make_timestamp_ns({hi}))"""
        extra = ", i.kind" if table_name == "events" else ""
        clash = con.execute(f"""
            SELECT i.signal_id, epoch_ns(i.ts){extra} FROM _incoming i
            JOIN {existing} e USING ({key}) WHERE {_DIFFERS[table_name]}""").fetchall()
        row = first(
            con.execute(f"""
            INSERT INTO {table_name} SELECT i.* FROM _incoming i ANTI JOIN {existing} e
            USING ({key})""").fetchall()
        )
        inserted = int(row[0]) if row else 0
    finally:
        _unregister(con, "_incoming")
    report.written += inserted
    report.duplicates += table.num_rows - inserted - len(clash)
    if clash:
        report.conflict(len(clash))
        by_key = {record_key(r): r for r in items}
        received = clock()
        for sid, ts, *kind in clash:
            record = by_key[(catalog.signals_by_id[int(sid)].ref, int(ts), *kind)]
            letters.append(conflict_letter(record, received_ns=received))
    return report


def insert_dead_letters(con: Connection, letters: list[DeadLetter]) -> None:
    """Append ``letters`` to the dead-letter table."""

    def payload(p: bytes | str) -> bytes:
        return p.encode("utf-8", "surrogateescape") if isinstance(p, str) else bytes(p)

    table = pa.table(
        {
            "received_ts": ts_array(np.array([d.received_ns for d in letters], dtype=np.int64)),
            "source": pa.array([d.source for d in letters]),
            "location": pa.array([d.location for d in letters]),
            "reason": pa.array([d.reason for d in letters]),
            "category": pa.array([str(d.detail.get("category", "")) for d in letters]),
            "payload": pa.array([payload(d.payload) for d in letters], type=pa.binary()),
            "detail": pa.array([json.dumps(dict(d.detail), default=str) for d in letters]),
        }
    )
    con.register("_letters", table)
    try:
        con.execute("""INSERT INTO dead_letters
            (received_ts, source, location, reason, category, payload, detail)
            SELECT * FROM _letters""")
    finally:
        _unregister(con, "_letters")
