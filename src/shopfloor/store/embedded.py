"""The embedded store: one DuckDB file, no server.

Layout (``schema_version`` 1):

- ``signals``: one row per (asset, signal) with its definition as JSON and a numeric id.
- ``provenance``: interned (connector, address, backfilled) triples.
- ``scalars``: ``signal_id, ts, value, quality, status_code, ingest_ts, provenance_id``.
- ``waveforms``: one row per block; the samples are a BLOB of the raw little-endian
  array (C order, ``n_samples x n_channels``) in the dtype received, so no precision is
  lost; ``docs/benchmarks.md`` compares this with a bare DuckDB Arrow append.
- ``images``: one row per image, encoded bytes as received (PNG, JPEG).
- ``events``, ``dead_letters``.

Idempotency without a primary-key index: a DuckDB ART index on (signal, ts) makes bulk
appends ~15x slower, so each write first probes the time range it covers (zone maps make
this cheap for appends, the common case) and only when that range already holds rows does
it anti-join against them, counting duplicates and dead-lettering conflicting values.

DuckDB allows one writing process per file: the running platform owns it, and other
processes go through its API (see ``shopfloor.store.open_store``). Within the process, one
dedicated thread owns the writing connection, so writes are serialized without locks;
reads run on a small pool of cursor threads and never block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopfloor.errors import StoreError, StoreFailed, StoreUnavailable
from shopfloor.model import (
    DeadLetter,
    EventRecord,
    ImageRecord,
    Provenance,
    Quality,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
    WaveformBlock,
    format_ns,
    now_ns,
)
from shopfloor.store.config import StoreConfig
from shopfloor.store.protocol import SignalInfo, StoreStats, WriteReport
from shopfloor.store.validation import (
    RecordValidator,
    dead_letters_for_rows,
    describe_record,
)

__all__ = ["DuckDBStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE SEQUENCE IF NOT EXISTS signal_ids START 1;
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY, asset VARCHAR NOT NULL, name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, unit VARCHAR NOT NULL, definition JSON NOT NULL,
    created_ts TIMESTAMP_NS NOT NULL, UNIQUE (asset, name));
CREATE SEQUENCE IF NOT EXISTS provenance_ids START 1;
CREATE TABLE IF NOT EXISTS provenance (
    id INTEGER PRIMARY KEY, connector VARCHAR NOT NULL, address VARCHAR NOT NULL,
    backfilled BOOLEAN NOT NULL, UNIQUE (connector, address, backfilled));
CREATE TABLE IF NOT EXISTS scalars (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, value DOUBLE,
    quality UTINYINT NOT NULL, status_code UINTEGER NOT NULL,
    ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS waveforms (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, sample_rate_hz DOUBLE NOT NULL,
    n_samples INTEGER NOT NULL, n_channels SMALLINT NOT NULL, dtype VARCHAR NOT NULL,
    unit VARCHAR NOT NULL, quality UTINYINT NOT NULL, status_code UINTEGER NOT NULL,
    ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, format VARCHAR NOT NULL,
    height INTEGER NOT NULL, width INTEGER NOT NULL, channels SMALLINT NOT NULL,
    quality UTINYINT NOT NULL, status_code UINTEGER NOT NULL,
    ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL, message VARCHAR NOT NULL, attributes JSON,
    quality UTINYINT NOT NULL, ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL);
CREATE SEQUENCE IF NOT EXISTS dead_letter_ids START 1;
CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGINT PRIMARY KEY DEFAULT nextval('dead_letter_ids'),
    received_ts TIMESTAMP_NS NOT NULL, source VARCHAR NOT NULL, location VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, category VARCHAR, payload BLOB, detail JSON);
"""

_ENOSPC = os.strerror(errno.ENOSPC)


def _write_error(path: str, err: duckdb.Error, *, committing: bool) -> StoreError:
    """A DuckDB error of the write path, as :class:`StoreFailed` when the store is unusable.

    A full disk, an I/O or fatal error (which invalidates the database), or any failure to
    commit leaves the store unusable until it is reopened. Running out of memory
    (``store.memory_limit``) while inserting is not: the batch was too big, and smaller ones
    go through; running out of it in the checkpoint that a commit triggers is.
    """
    text = str(err)
    message = f"write to {path} failed: {text}"
    if _ENOSPC in text:
        return StoreFailed(message, reason=f"disk full at {path}")
    fatal = committing or isinstance(err, duckdb.FatalException | duckdb.IOException)
    # DuckDB names no type for memory exhausted inside a fatal checkpoint: only its text
    out_of_memory = isinstance(err, duckdb.OutOfMemoryException) or any(
        phrase in text for phrase in ("failed to pin block", "could not allocate block")
    )
    if out_of_memory and not fatal:
        return StoreError(f"write to {path} failed: the batch does not fit in memory: {text}")
    if out_of_memory:
        return StoreFailed(message, reason=f"out of memory (store.memory_limit) at {path}")
    if fatal:
        return StoreFailed(message, reason=f"store {path} failed: {text.splitlines()[0]}")
    return StoreError(message)


_TS = pa.timestamp("ns")
_TS_UTC = pa.timestamp("ns", tz="UTC")


def _first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The first row of a fully fetched result (DuckDB wants results consumed)."""
    return rows[0] if rows else None


def _ts_array(ns: npt.NDArray[np.int64]) -> pa.Array:
    return pa.array(ns, type=pa.int64()).view(_TS)


def _same_value(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    same: npt.NDArray[np.bool_] = (a == b) | (np.isnan(a) & np.isnan(b))
    return same


class DuckDBStore:
    """The embedded default :class:`~shopfloor.store.protocol.Store`, in one DuckDB file.

    Parameters
    ----------
    path
        The database file (created with its folder when missing); ``":memory:"`` for a
        throw-away store.
    config
        Store settings (limits, memory, threads).
    clock
        Returns now in UTC nanoseconds; tests pin it.

    Examples
    --------
    >>> import asyncio
    >>> from shopfloor.model import Signal
    >>> async def demo() -> int:
    ...     store = DuckDBStore(":memory:")
    ...     await store.open()
    ...     infos = await store.register_signals(
    ...         "acme/p1/machining/l1/c1/cnc-01", [Signal(name="spindle_speed", unit="rpm")])
    ...     await store.close()
    ...     return len(infos)
    >>> asyncio.run(demo())
    1
    """

    def __init__(
        self,
        path: str | Path,
        config: StoreConfig | None = None,
        *,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self.path = str(path)
        self.config = config or StoreConfig()
        self._clock = clock
        self._con: duckdb.DuckDBPyConnection | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._signals: dict[SignalRef, SignalInfo] = {}
        self._signals_by_id: dict[int, SignalInfo] = {}
        self._provenance: dict[Provenance, int] = {}
        self._provenance_by_id: dict[int, Provenance] = {}
        self._validator = RecordValidator(self._signals.get, self.config.limits, clock)
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------

    async def _run_write(self, fn: Callable[[], T]) -> T:
        if self._writer is None or self._con is None:
            raise StoreUnavailable(f"store {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    async def _run_read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        if self._readers is None or self._con is None:
            raise StoreUnavailable(f"store {self.path} is not open")
        con = self._con

        def call() -> T:
            cursor = getattr(self._local, "cursor", None)
            if cursor is None:
                cursor = con.cursor()
                self._local.cursor = cursor
            return fn(cursor)

        return await asyncio.get_running_loop().run_in_executor(self._readers, call)

    @property
    def _c(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreUnavailable(f"store {self.path} is not open")
        return self._con

    async def open(self) -> None:
        """Open the file (creating it and its folder), create or check the schema."""
        if self._con is not None:
            return
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="store-reader")
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._open_sync)
        except BaseException:
            self._writer.shutdown(wait=False)
            self._readers.shutdown(wait=False)
            self._writer = self._readers = None
            raise
        log.info("store.opened path=%s signals=%d", self.path, len(self._signals))

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] = {}
        if self.config.memory_limit:
            settings["memory_limit"] = self.config.memory_limit
        if self.config.threads:
            settings["threads"] = self.config.threads
        try:
            con = duckdb.connect(self.path, config=settings)
        except duckdb.IOException as err:
            raise StoreUnavailable(
                f"cannot open the store {self.path}: {err}. Another shopfloor process "
                "(the running platform) owns it; use its API or stop it first"
            ) from err
        except duckdb.Error as err:
            raise StoreError(f"cannot open the store {self.path}: {err}") from err
        try:
            con.execute(_SCHEMA)
            row = _first(
                con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
            )
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {row[0]}; this shopfloor reads "
                    f"version {SCHEMA_VERSION}"
                )
            for sid, asset, name, definition in con.execute(
                "SELECT id, asset, name, definition FROM signals"
            ).fetchall():
                ref = SignalRef(asset, name)
                info = SignalInfo(ref, sid, Signal.model_validate_json(definition))
                self._signals[ref] = info
                self._signals_by_id[sid] = info
            for pid, connector, address, backfilled in con.execute(
                "SELECT id, connector, address, backfilled FROM provenance"
            ).fetchall():
                prov = Provenance(connector, address, backfilled)
                self._provenance[prov] = pid
                self._provenance_by_id[pid] = prov
        except BaseException:
            con.close()
            raise
        self._con = con

    async def close(self) -> None:
        """Checkpoint and close; safe to call twice."""
        writer, readers, con = self._writer, self._readers, self._con
        if con is None or writer is None:
            return
        self._con = None
        self._writer = self._readers = None

        def shut() -> None:
            try:
                con.execute("CHECKPOINT")
            finally:
                con.close()

        try:
            if readers is not None:
                readers.shutdown(wait=True)
            await asyncio.shield(asyncio.get_running_loop().run_in_executor(writer, shut))
        finally:
            writer.shutdown(wait=True)
            log.info("store.closed path=%s", self.path)

    async def reopen(self) -> None:
        """Close (whatever the state of the file) and open again, e.g. after a full disk.

        Raises
        ------
        StoreFailed
            When the store still cannot be opened (the disk is still full).
        """
        try:
            await self.close()
        except Exception as err:  # an invalidated database fails its last checkpoint
            log.debug("store.close_failed path=%s error=%s", self.path, err)
        # the caches may hold rows of transactions that were rolled back
        self._signals.clear()
        self._signals_by_id.clear()
        self._provenance.clear()
        self._provenance_by_id.clear()
        try:
            await self.open()
        except (StoreError, OSError) as err:
            full = _ENOSPC in str(err)
            reason = f"disk full at {self.path}" if full else f"cannot reopen {self.path}"
            raise StoreFailed(f"cannot reopen the store {self.path}: {err}", reason=reason) from err

    async def __aenter__(self) -> DuckDBStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- signals ------------------------------------------------------------------------

    async def register_signals(self, asset: str, signals: Sequence[Signal]) -> list[SignalInfo]:
        """Create or update signal definitions; a kind change of a stored signal is refused."""
        return await self._run_write(lambda: self._register_sync(asset, list(signals)))

    def _register_sync(self, asset: str, signals: list[Signal]) -> list[SignalInfo]:
        con = self._c
        out = []
        for signal in signals:
            ref = SignalRef.checked(asset, signal.name)
            existing = self._signals.get(ref)
            definition = signal.model_dump_json()
            if existing is not None:
                if existing.kind != signal.kind:
                    raise StoreError(
                        f"signal {ref.path!r} is stored as {existing.kind}; the project now says "
                        f"{signal.kind}. Give the new signal another name"
                    )
                if existing.definition != signal:
                    con.execute(
                        "UPDATE signals SET unit = ?, definition = ? WHERE id = ?",
                        [signal.unit, definition, existing.id],
                    )
                    if existing.definition.unit != signal.unit:
                        log.warning(
                            "store.unit_changed signal=%s old=%s new=%s",
                            ref.path,
                            existing.definition.unit,
                            signal.unit,
                        )
                info = SignalInfo(ref, existing.id, signal)
            else:
                row = _first(
                    con.execute(
                        "INSERT INTO signals VALUES (nextval('signal_ids'), ?, ?, ?, ?, ?, "
                        "make_timestamp_ns(?)) "
                        "RETURNING id",
                        [
                            asset,
                            signal.name,
                            str(signal.kind),
                            signal.unit,
                            definition,
                            self._clock(),
                        ],
                    ).fetchall()
                )
                assert row is not None
                info = SignalInfo(ref, int(row[0]), signal)
            self._signals[ref] = info
            self._signals_by_id[info.id] = info
            out.append(info)
        return out

    async def signals(self) -> list[SignalInfo]:
        """Every signal the store knows, ordered by asset and name."""
        if self._con is None:
            raise StoreUnavailable(f"store {self.path} is not open")
        return sorted(self._signals.values(), key=lambda i: (i.ref.asset, i.ref.name))

    def _provenance_id(self, prov: Provenance) -> int:
        pid = self._provenance.get(prov)
        if pid is None:
            row = _first(
                self._c.execute(
                    "INSERT INTO provenance VALUES (nextval('provenance_ids'), ?, ?, ?) "
                    "RETURNING id",
                    [prov.connector, prov.address, prov.backfilled],
                ).fetchall()
            )
            assert row is not None
            pid = int(row[0])
            self._provenance[prov] = pid
            self._provenance_by_id[pid] = prov
        return pid

    # -- writes -------------------------------------------------------------------------

    async def write(self, records: Sequence[Record]) -> WriteReport:
        """Validate and write; see the module docstring for the idempotency rules."""
        if not records:
            return WriteReport()
        return await self._run_write(lambda: self._write_sync(list(records)))

    def _write_sync(self, records: list[Record]) -> WriteReport:
        report = WriteReport()
        letters: list[DeadLetter] = []
        scalars: list[tuple[SignalInfo, ScalarBatch]] = []
        blocks: list[tuple[SignalInfo, WaveformBlock]] = []
        images: list[tuple[SignalInfo, ImageRecord]] = []
        events: list[tuple[SignalInfo, EventRecord]] = []
        for record in records:
            if isinstance(record, ScalarBatch):
                report.offered += len(record)
                if len(record) == 0:
                    continue
                info, rejections = self._validator.check_scalars(record)
                accepted = record
                if rejections:
                    bad = np.zeros(len(record), dtype=bool)
                    for rejection in rejections:
                        bad[rejection.rows] = True
                        report.reject(rejection.category, len(rejection.rows))
                        letters.extend(dead_letters_for_rows(record, rejection))
                    accepted = record.take(~bad)
                if info is not None and len(accepted):
                    scalars.append((info, accepted))
                continue
            report.offered += 1
            if isinstance(record, WaveformBlock):
                info, category, reason = self._validator.check_waveform(record)
            elif isinstance(record, ImageRecord):
                info, category, reason = self._validator.check_image(record)
            else:
                info, category, reason = self._validator.check_event(record)
            if category is not None or info is None:
                category = category or "unknown_signal"
                report.reject(category)
                letters.append(self._letter_for(record, category, reason))
            elif isinstance(record, WaveformBlock):
                blocks.append((info, record))
            elif isinstance(record, ImageRecord):
                images.append((info, record))
            else:
                events.append((info, record))
        con = self._c
        committing = False
        try:
            con.execute("BEGIN TRANSACTION")
        except duckdb.Error as err:
            raise _write_error(self.path, err, committing=True) from err
        try:
            if scalars:
                report.add(self._insert_scalars(scalars, letters))
            if blocks:
                report.add(self._insert_blocks(blocks, letters))
            if images:
                report.add(self._insert_images(images, letters))
            if events:
                report.add(self._insert_events(events, letters))
            if letters:
                self._insert_dead_letters(letters)
            committing = True
            con.execute("COMMIT")
        except BaseException as err:
            with contextlib.suppress(duckdb.Error):  # a failed commit leaves no transaction
                con.execute("ROLLBACK")
            if isinstance(err, duckdb.Error):
                raise _write_error(self.path, err, committing=committing) from err
            raise
        return report

    @staticmethod
    def _letter_for(
        record: WaveformBlock | ImageRecord | EventRecord, category: str, reason: str
    ) -> DeadLetter:
        return DeadLetter(
            source=record.provenance.connector,
            location=record.provenance.address or record.signal.path,
            reason=reason,
            payload=describe_record(record),
            detail={"category": category, "signal": record.signal.path},
        )

    def _dedupe_in_batch(
        self, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.intp] | None, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Return (rows to keep or None for all, duplicate rows, conflicting rows)."""
        if ts.shape[0] < 2 or bool(np.all(ts[1:] > ts[:-1])):
            empty = np.empty(0, dtype=np.intp)
            return None, empty, empty
        order = np.argsort(ts, kind="stable")
        sorted_ts = ts[order]
        first = np.ones(ts.shape[0], dtype=bool)
        first[1:] = sorted_ts[1:] != sorted_ts[:-1]
        # index of the first occurrence for every row, in sorted order
        group_start = np.maximum.accumulate(np.where(first, np.arange(ts.shape[0]), 0))
        keep_sorted = order[first]
        repeat_rows = order[~first]
        first_rows = order[group_start[~first]]
        same = _same_value(values[repeat_rows], values[first_rows])
        return np.sort(keep_sorted), repeat_rows[same], repeat_rows[~same]

    def _insert_scalars(
        self, items: list[tuple[SignalInfo, ScalarBatch]], letters: list[DeadLetter]
    ) -> WriteReport:
        report = WriteReport()
        con = self._c
        by_signal: dict[int, list[tuple[ScalarBatch, int]]] = {}
        for info, batch in items:
            by_signal.setdefault(info.id, []).append((batch, self._provenance_id(batch.provenance)))
        tables = []
        for sid, group in by_signal.items():
            if len(group) == 1:
                batch, pid = group[0]
                ts, values, quality = batch.ts_ns, batch.values, batch.quality
                status, ingest = batch.status_code, batch.ingest_ns
                prov = np.full(len(batch), pid, dtype=np.int32)
            else:
                ts = np.concatenate([b.ts_ns for b, _ in group])
                values = np.concatenate([b.values for b, _ in group])
                quality = np.concatenate([b.quality for b, _ in group])
                status = np.concatenate([b.status_code for b, _ in group])
                ingest = np.concatenate([b.ingest_ns for b, _ in group])
                prov = np.concatenate([np.full(len(b), p, dtype=np.int32) for b, p in group])
            keep, dup_rows, conflict_rows = self._dedupe_in_batch(ts, values)
            if keep is not None:
                report.duplicates += len(dup_rows)
                if len(conflict_rows):
                    report.conflicts += len(conflict_rows)
                    report.reject("conflict", len(conflict_rows))
                    info = self._signals_by_id[sid]
                    letters.extend(
                        self._conflict_letters(
                            info,
                            ts[conflict_rows],
                            values[conflict_rows],
                            None,
                            prov[conflict_rows],
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
                        "ts": _ts_array(ts),
                        "value": pa.array(values, type=pa.float64()),
                        "quality": pa.array(quality, type=pa.uint8()),
                        "status_code": pa.array(status, type=pa.uint32()),
                        "ingest_ts": _ts_array(ingest),
                        "provenance_id": pa.array(prov, type=pa.int32()),
                    }
                )
            )
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        ids = list(by_signal)
        ts_col = table.column("ts").cast(pa.int64())
        lo = int(pa.compute.min(ts_col).as_py())
        hi = int(pa.compute.max(ts_col).as_py())
        con.register("_incoming", table)
        try:
            if self._range_is_empty("scalars", ids, lo, hi):
                con.execute("INSERT INTO scalars SELECT * FROM _incoming")
                report.written += table.num_rows
                return report
            existing = f"""(SELECT signal_id, ts, value FROM scalars WHERE signal_id IN
                ({",".join(map(str, ids))}) AND ts BETWEEN make_timestamp_ns({lo})
                AND make_timestamp_ns({hi}))"""
            clash = con.execute(f"""
                SELECT i.signal_id, epoch_ns(i.ts), i.value, e.value, i.provenance_id
                FROM _incoming i JOIN {existing} e USING (signal_id, ts)
                WHERE i.value IS DISTINCT FROM e.value""").fetchnumpy()
            inserted = _first(
                con.execute(f"""
                INSERT INTO scalars SELECT i.* FROM _incoming i
                ANTI JOIN {existing} e USING (signal_id, ts)""").fetchall()
            )
            n_inserted = int(inserted[0]) if inserted else 0
        finally:
            with contextlib.suppress(duckdb.Error):  # would hide the error that aborted
                con.unregister("_incoming")
        n_clash = len(clash["signal_id"])
        report.written += n_inserted
        report.conflicts += n_clash
        report.reject("conflict", n_clash) if n_clash else None
        report.duplicates += table.num_rows - n_inserted - n_clash
        for sid in np.unique(clash["signal_id"]).tolist():
            rows = clash["signal_id"] == sid
            letters.extend(
                self._conflict_letters(
                    self._signals_by_id[int(sid)],
                    clash["epoch_ns(i.ts)"][rows],
                    clash["value"][rows],
                    clash["value_1"][rows],
                    clash["provenance_id"][rows],
                )
            )
        return report

    def _conflict_letters(
        self,
        info: SignalInfo,
        ts: npt.NDArray[np.int64],
        new: npt.NDArray[np.float64],
        old: npt.NDArray[np.float64] | None,
        prov_ids: npt.NDArray[np.int32],
    ) -> list[DeadLetter]:
        out = []
        received = self._clock()
        for i in range(ts.shape[0]):
            prov = self._provenance_by_id[int(prov_ids[i])]
            kept = "the value already stored" if old is None else f"stored value {float(old[i])!r}"
            out.append(
                DeadLetter(
                    source=prov.connector,
                    location=prov.address or info.ref.path,
                    reason=(
                        f"duplicate timestamp {format_ns(int(ts[i]))} for {info.ref.path!r} "
                        f"with a different value {float(new[i])!r}; {kept} is kept "
                        "(first write wins)"
                    ),
                    payload=json.dumps(
                        {"signal": info.ref.path, "ts_ns": int(ts[i]), "value": float(new[i])}
                    ),
                    received_ns=received,
                    detail={"category": "conflict", "signal": info.ref.path},
                )
            )
        return out

    def _range_is_empty(self, table: str, ids: list[int], lo: int, hi: int) -> bool:
        row = _first(
            self._c.execute(
                f"SELECT count(*) FROM {table} WHERE signal_id IN ({','.join(map(str, ids))}) "
                f"AND ts BETWEEN make_timestamp_ns({lo}) AND make_timestamp_ns({hi})"
            ).fetchall()
        )
        return row is None or int(row[0]) == 0

    def _insert_keyed(
        self,
        table_name: str,
        table: pa.Table,
        key: str,
        ids: list[int],
        lo: int,
        hi: int,
    ) -> tuple[int, int]:
        """Insert rows whose key is new; return (inserted, duplicates)."""
        con = self._c
        con.register("_incoming", table)
        try:
            if self._range_is_empty(table_name, ids, lo, hi):
                con.execute(f"INSERT INTO {table_name} SELECT * FROM _incoming")
                return table.num_rows, 0
            row = _first(
                con.execute(f"""
                INSERT INTO {table_name} SELECT i.* FROM _incoming i ANTI JOIN
                (SELECT {key} FROM {table_name} WHERE signal_id IN ({",".join(map(str, ids))})
                 AND ts BETWEEN make_timestamp_ns({lo}) AND make_timestamp_ns({hi})) e
                USING ({key})""").fetchall()
            )
            inserted = int(row[0]) if row else 0
            return inserted, table.num_rows - inserted
        finally:
            with contextlib.suppress(duckdb.Error):  # would hide the error that aborted
                con.unregister("_incoming")

    @staticmethod
    def _first_per_key(keys: list[tuple[Any, ...]]) -> list[int]:
        seen: set[tuple[Any, ...]] = set()
        out = []
        for i, key in enumerate(keys):
            if key not in seen:
                seen.add(key)
                out.append(i)
        return out

    def _insert_blocks(
        self, items: list[tuple[SignalInfo, WaveformBlock]], letters: list[DeadLetter]
    ) -> WriteReport:
        report = WriteReport()
        keep = self._first_per_key([(info.id, b.t0_ns) for info, b in items])
        report.duplicates += len(items) - len(keep)
        items = [items[i] for i in keep]
        ids = [info.id for info, _ in items]
        t0 = np.array([b.t0_ns for _, b in items], dtype=np.int64)
        payloads = []
        for _, b in items:
            data = np.ascontiguousarray(b.data)
            if data.dtype.byteorder == ">":
                data = data.astype(data.dtype.newbyteorder("<"))
            payloads.append(data.tobytes())
        table = pa.table(
            {
                "signal_id": pa.array(ids, type=pa.int32()),
                "ts": _ts_array(t0),
                "sample_rate_hz": pa.array([b.sample_rate_hz for _, b in items], type=pa.float64()),
                "n_samples": pa.array([b.n_samples for _, b in items], type=pa.int32()),
                "n_channels": pa.array([b.n_channels for _, b in items], type=pa.int16()),
                "dtype": pa.array([b.data.dtype.newbyteorder("=").name for _, b in items]),
                "unit": pa.array([b.unit for _, b in items]),
                "quality": pa.array([int(b.quality) for _, b in items], type=pa.uint8()),
                "status_code": pa.array([b.status_code for _, b in items], type=pa.uint32()),
                "ingest_ts": _ts_array(np.array([b.ingest_ns for _, b in items], dtype=np.int64)),
                "provenance_id": pa.array(
                    [self._provenance_id(b.provenance) for _, b in items], type=pa.int32()
                ),
                "payload": pa.array(payloads, type=pa.binary()),
            }
        )
        inserted, dups = self._insert_keyed(
            "waveforms", table, "signal_id, ts", sorted(set(ids)), int(t0.min()), int(t0.max())
        )
        report.written += inserted
        report.duplicates += dups
        return report

    def _insert_images(
        self, items: list[tuple[SignalInfo, ImageRecord]], letters: list[DeadLetter]
    ) -> WriteReport:
        report = WriteReport()
        keep = self._first_per_key([(info.id, r.ts_ns) for info, r in items])
        report.duplicates += len(items) - len(keep)
        items = [items[i] for i in keep]
        ids = [info.id for info, _ in items]
        ts = np.array([r.ts_ns for _, r in items], dtype=np.int64)
        table = pa.table(
            {
                "signal_id": pa.array(ids, type=pa.int32()),
                "ts": _ts_array(ts),
                "format": pa.array([r.format for _, r in items]),
                "height": pa.array([r.shape[0] for _, r in items], type=pa.int32()),
                "width": pa.array([r.shape[1] for _, r in items], type=pa.int32()),
                "channels": pa.array([r.shape[2] for _, r in items], type=pa.int16()),
                "quality": pa.array([int(r.quality) for _, r in items], type=pa.uint8()),
                "status_code": pa.array([r.status_code for _, r in items], type=pa.uint32()),
                "ingest_ts": _ts_array(np.array([r.ingest_ns for _, r in items], dtype=np.int64)),
                "provenance_id": pa.array(
                    [self._provenance_id(r.provenance) for _, r in items], type=pa.int32()
                ),
                "payload": pa.array([r.data for _, r in items], type=pa.binary()),
            }
        )
        inserted, dups = self._insert_keyed(
            "images", table, "signal_id, ts", sorted(set(ids)), int(ts.min()), int(ts.max())
        )
        report.written += inserted
        report.duplicates += dups
        return report

    def _insert_events(
        self, items: list[tuple[SignalInfo, EventRecord]], letters: list[DeadLetter]
    ) -> WriteReport:
        report = WriteReport()
        keep = self._first_per_key([(info.id, e.ts_ns, e.kind) for info, e in items])
        report.duplicates += len(items) - len(keep)
        items = [items[i] for i in keep]
        ids = [info.id for info, _ in items]
        ts = np.array([e.ts_ns for _, e in items], dtype=np.int64)
        table = pa.table(
            {
                "signal_id": pa.array(ids, type=pa.int32()),
                "ts": _ts_array(ts),
                "kind": pa.array([e.kind for _, e in items]),
                "severity": pa.array([e.severity for _, e in items]),
                "message": pa.array([e.message for _, e in items]),
                "attributes": pa.array(
                    [json.dumps(dict(e.attributes), default=str) for _, e in items]
                ),
                "quality": pa.array([int(e.quality) for _, e in items], type=pa.uint8()),
                "ingest_ts": _ts_array(np.array([e.ingest_ns for _, e in items], dtype=np.int64)),
                "provenance_id": pa.array(
                    [self._provenance_id(e.provenance) for _, e in items], type=pa.int32()
                ),
            }
        )
        inserted, dups = self._insert_keyed(
            "events", table, "signal_id, ts, kind", sorted(set(ids)), int(ts.min()), int(ts.max())
        )
        report.written += inserted
        report.duplicates += dups
        return report

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Append dead letters."""
        if letters:
            await self._run_write(lambda: self._insert_dead_letters(list(letters)))

    def _insert_dead_letters(self, letters: list[DeadLetter]) -> None:
        def payload(p: bytes | str) -> bytes:
            return p.encode("utf-8", "surrogateescape") if isinstance(p, str) else bytes(p)

        table = pa.table(
            {
                "received_ts": _ts_array(
                    np.array([d.received_ns for d in letters], dtype=np.int64)
                ),
                "source": pa.array([d.source for d in letters]),
                "location": pa.array([d.location for d in letters]),
                "reason": pa.array([d.reason for d in letters]),
                "category": pa.array([str(d.detail.get("category", "")) for d in letters]),
                "payload": pa.array([payload(d.payload) for d in letters], type=pa.binary()),
                "detail": pa.array([json.dumps(dict(d.detail), default=str) for d in letters]),
            }
        )
        con = self._c
        con.register("_letters", table)
        try:
            con.execute("""INSERT INTO dead_letters
                (received_ts, source, location, reason, category, payload, detail)
                SELECT * FROM _letters""")
        finally:
            with contextlib.suppress(duckdb.Error):  # would hide the error that aborted
                con.unregister("_letters")

    # -- reads --------------------------------------------------------------------------

    def _info(self, ref: SignalRef, kind: SignalKind | None = None) -> SignalInfo:
        info = self._signals.get(ref)
        if info is None:
            raise StoreError(f"unknown signal {ref.path!r}")
        if kind is not None and info.kind != kind:
            raise StoreError(f"signal {ref.path!r} is a {info.kind} signal, not {kind}")
        return info

    async def read_scalars(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> pa.Table:
        """Samples in ``[start_ns, end_ns)``, oldest first."""
        sid = self._info(ref, SignalKind.SCALAR).id
        lim = f"LIMIT {int(limit)}" if limit is not None else ""

        def read(con: duckdb.DuckDBPyConnection) -> pa.Table:
            table = con.sql(
                f"""SELECT ts, value, quality, status_code FROM scalars WHERE signal_id = $1
                AND ts >= make_timestamp_ns($2) AND ts < make_timestamp_ns($3) ORDER BY ts {lim}""",
                params=[sid, start_ns, end_ns],
            ).to_arrow_table()
            return table.set_column(0, "ts", table.column("ts").cast(_TS_UTC))

        return await self._run_read(read)

    async def read_scalars_downsampled(
        self, ref: SignalRef, start_ns: int, end_ns: int, every_ns: int
    ) -> pa.Table:
        """min/max/mean/count per bucket of ``every_ns``, buckets aligned to the epoch."""
        if every_ns <= 0:
            raise StoreError(f"bucket width must be > 0 ns, got {every_ns}")
        sid = self._info(ref, SignalKind.SCALAR).id

        def read(con: duckdb.DuckDBPyConnection) -> pa.Table:
            table = con.sql(
                f"""SELECT make_timestamp_ns((epoch_ns(ts) // {int(every_ns)}) * {int(every_ns)})
                       AS ts, min(value) AS min, max(value) AS max, avg(value) AS mean,
                       count(*) AS count
                FROM scalars WHERE signal_id = $1 AND ts >= make_timestamp_ns($2)
                AND ts < make_timestamp_ns($3) GROUP BY 1 ORDER BY 1""",
                params=[sid, start_ns, end_ns],
            ).to_arrow_table()
            return table.set_column(0, "ts", table.column("ts").cast(_TS_UTC))

        return await self._run_read(read)

    async def read_waveforms(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[WaveformBlock]:
        """Blocks starting in ``[start_ns, end_ns)``, oldest first."""
        sid = self._info(ref, SignalKind.WAVEFORM).id
        lim = f"LIMIT {int(limit)}" if limit is not None else ""

        def read(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return con.execute(
                f"""SELECT epoch_ns(ts), sample_rate_hz, n_samples, n_channels, dtype, unit,
                quality, status_code, epoch_ns(ingest_ts), provenance_id, payload
                FROM waveforms WHERE signal_id = ? AND ts >= make_timestamp_ns(?)
                AND ts < make_timestamp_ns(?) ORDER BY ts {lim}""",
                [sid, start_ns, end_ns],
            ).fetchall()

        out = []
        for t0, rate, n, ch, dtype, unit, q, status, ingest, pid, payload in await self._run_read(
            read
        ):
            data = np.frombuffer(payload, dtype=np.dtype(dtype).newbyteorder("<"))
            data = data.reshape(n, ch) if ch > 1 else data
            out.append(
                WaveformBlock(
                    ref,
                    int(t0),
                    float(rate),
                    data,
                    unit,
                    self._provenance_by_id[pid],
                    Quality(q),
                    int(status),
                    int(ingest),
                )
            )
        return out

    async def read_images(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[ImageRecord]:
        """Images in ``[start_ns, end_ns)``, oldest first."""
        sid = self._info(ref, SignalKind.IMAGE).id
        lim = f"LIMIT {int(limit)}" if limit is not None else ""

        def read(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return con.execute(
                f"""SELECT epoch_ns(ts), format, height, width, channels, quality, status_code,
                epoch_ns(ingest_ts), provenance_id, payload FROM images WHERE signal_id = ?
                AND ts >= make_timestamp_ns(?) AND ts < make_timestamp_ns(?) ORDER BY ts {lim}""",
                [sid, start_ns, end_ns],
            ).fetchall()

        return [
            ImageRecord(
                ref,
                int(ts),
                bytes(payload),
                fmt,
                (int(h), int(w), int(c)),
                self._provenance_by_id[pid],
                Quality(q),
                int(status),
                int(ingest),
            )
            for ts, fmt, h, w, c, q, status, ingest, pid, payload in await self._run_read(read)
        ]

    async def read_events(
        self,
        start_ns: int,
        end_ns: int,
        *,
        ref: SignalRef | None = None,
        asset: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events in ``[start_ns, end_ns)``, oldest first."""
        where = ["ts >= make_timestamp_ns(?)", "ts < make_timestamp_ns(?)"]
        params: list[Any] = [start_ns, end_ns]
        if ref is not None:
            info = self._signals.get(ref)
            if info is None:
                return []
            where.append("signal_id = ?")
            params.append(info.id)
        if asset is not None:
            ids = [i.id for r, i in self._signals.items() if r.asset == asset]
            if not ids:
                return []
            where.append(f"signal_id IN ({','.join(map(str, ids))})")
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        lim = f"LIMIT {int(limit)}" if limit is not None else ""

        def read(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return con.execute(
                f"""SELECT signal_id, epoch_ns(ts), kind, severity, message, attributes, quality,
                epoch_ns(ingest_ts), provenance_id FROM events WHERE {" AND ".join(where)}
                ORDER BY ts {lim}""",
                params,
            ).fetchall()

        return [
            EventRecord(
                self._signals_by_id[sid].ref,
                int(ts),
                k,
                self._provenance_by_id[pid],
                msg,
                sev,
                json.loads(attrs) if attrs else {},
                Quality(q),
                int(ingest),
            )
            for sid, ts, k, sev, msg, attrs, q, ingest, pid in await self._run_read(read)
        ]

    def _dead_letter_filter(
        self, since_ns: int | None, source: str | None
    ) -> tuple[str, list[Any]]:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if since_ns is not None:
            where.append("received_ts >= make_timestamp_ns(?)")
            params.append(since_ns)
        if source is not None:
            where.append("source = ?")
            params.append(source)
        return " AND ".join(where), params

    async def read_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        """Dead letters, oldest first."""
        where, params = self._dead_letter_filter(since_ns, source)

        def read(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return con.execute(
                f"""SELECT epoch_ns(received_ts), source, location, reason, payload, detail
                FROM dead_letters WHERE {where} ORDER BY id LIMIT {int(limit)}""",
                params,
            ).fetchall()

        return [
            DeadLetter(
                src,
                loc,
                reason,
                bytes(payload or b""),
                int(ts),
                json.loads(detail) if detail else {},
            )
            for ts, src, loc, reason, payload, detail in await self._run_read(read)
        ]

    async def count_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None
    ) -> int:
        """How many dead letters match."""
        where, params = self._dead_letter_filter(since_ns, source)

        def read(con: duckdb.DuckDBPyConnection) -> int:
            row = _first(
                con.execute(f"SELECT count(*) FROM dead_letters WHERE {where}", params).fetchall()
            )
            return int(row[0]) if row else 0

        return await self._run_read(read)

    _TABLE: ClassVar[dict[SignalKind, str]] = {
        SignalKind.SCALAR: "scalars",
        SignalKind.WAVEFORM: "waveforms",
        SignalKind.IMAGE: "images",
        SignalKind.EVENT: "events",
    }

    async def time_range(self, ref: SignalRef) -> tuple[int, int] | None:
        """First and last timestamp stored for ``ref``."""
        info = self._info(ref)
        table = self._TABLE[info.kind]

        def read(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
            row = _first(
                con.execute(
                    f"SELECT epoch_ns(min(ts)), epoch_ns(max(ts)) FROM {table} WHERE signal_id = ?",
                    [info.id],
                ).fetchall()
            )
            if row is None or row[0] is None:
                return None
            return int(row[0]), int(row[1])

        return await self._run_read(read)

    async def count(
        self, ref: SignalRef, start_ns: int | None = None, end_ns: int | None = None
    ) -> int:
        """Number of values stored for ``ref`` (optionally in a range)."""
        info = self._info(ref)
        table = self._TABLE[info.kind]
        where, params = ["signal_id = ?"], [info.id]
        if start_ns is not None:
            where.append("ts >= make_timestamp_ns(?)")
            params.append(start_ns)
        if end_ns is not None:
            where.append("ts < make_timestamp_ns(?)")
            params.append(end_ns)

        def read(con: duckdb.DuckDBPyConnection) -> int:
            row = _first(
                con.execute(
                    f"SELECT count(*) FROM {table} WHERE {' AND '.join(where)}", params
                ).fetchall()
            )
            return int(row[0]) if row else 0

        return await self._run_read(read)

    # -- housekeeping ---------------------------------------------------------------------

    async def apply_retention(self, now_ns: int | None = None) -> dict[str, int]:
        """Delete data older than each signal's ``retention_days`` and old dead letters."""
        now = self._clock() if now_ns is None else now_ns

        def run() -> dict[str, int]:
            con = self._c
            deleted: dict[str, int] = {}
            for info in list(self._signals.values()):
                retention = info.definition.retention_s
                if retention is None:
                    continue
                cutoff = now - int(retention * 1e9)
                row = _first(
                    con.execute(
                        f"DELETE FROM {self._TABLE[info.kind]} WHERE signal_id = ? "
                        "AND ts < make_timestamp_ns(?)",
                        [info.id, cutoff],
                    ).fetchall()
                )
                if row and int(row[0]):
                    deleted[info.ref.path] = int(row[0])
            cutoff = now - int(self.config.dead_letter_retention_days * 86400e9)
            row = _first(
                con.execute(
                    "DELETE FROM dead_letters WHERE received_ts < make_timestamp_ns(?)", [cutoff]
                ).fetchall()
            )
            if row and int(row[0]):
                deleted["dead_letters"] = int(row[0])
            return deleted

        deleted = await self._run_write(run)
        if deleted:
            log.info("store.retention deleted=%s", deleted)
        return deleted

    async def stats(self) -> StoreStats:
        """Row counts per table and the file size."""

        def read(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
            out = {}
            for table in ("signals", "scalars", "waveforms", "images", "events", "dead_letters"):
                row = _first(con.execute(f"SELECT count(*) FROM {table}").fetchall())
                out[table] = int(row[0]) if row else 0
            return out

        rows = await self._run_read(read)
        size = 0
        if self.path != ":memory:":
            size = (await asyncio.to_thread(Path(self.path).stat)).st_size
        return StoreStats(rows=rows, size_bytes=size, location=self.path)
