"""Reading values, events and dead letters back, as Arrow tables or records."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from shopfloor.errors import StoreError
from shopfloor.model import (
    DeadLetter,
    EventRecord,
    ImageRecord,
    Quality,
    SignalKind,
    SignalRef,
    WaveformBlock,
)
from shopfloor.store.duckdb.database import Database
from shopfloor.store.duckdb.schema import TABLES, first, has_column

__all__ = ["Reads"]

Connection = duckdb.DuckDBPyConnection

_TS_UTC = pa.timestamp("ns", tz="UTC")


def _limit(limit: int | None) -> str:
    return f"LIMIT {int(limit)}" if limit is not None else ""


class Reads:
    """The read half of the :class:`~shopfloor.store.protocol.Store` protocol."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def read_scalars(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> pa.Table:
        """Samples in ``[start_ns, end_ns)``, oldest first."""
        sid = self._db.catalog.info(ref, SignalKind.SCALAR).id
        lim = _limit(limit)

        def read(con: Connection) -> pa.Table:
            table = con.sql(
                f"""SELECT ts, value, quality, status_code FROM scalars WHERE signal_id = $1
                AND ts >= make_timestamp_ns($2) AND ts < make_timestamp_ns($3) ORDER BY ts {lim}""",
                params=[sid, start_ns, end_ns],
            ).to_arrow_table()
            return table.set_column(0, "ts", table.column("ts").cast(_TS_UTC))

        return await self._db.run_read(read)

    async def read_scalars_downsampled(
        self, ref: SignalRef, start_ns: int, end_ns: int, every_ns: int
    ) -> pa.Table:
        """min/max/mean/count per bucket of ``every_ns``, buckets aligned to the epoch."""
        if every_ns <= 0:
            raise StoreError(f"bucket width must be > 0 ns, got {every_ns}")
        sid = self._db.catalog.info(ref, SignalKind.SCALAR).id

        def read(con: Connection) -> pa.Table:
            table = con.sql(
                f"""SELECT make_timestamp_ns((epoch_ns(ts) // {int(every_ns)}) * {int(every_ns)})
                       AS ts, min(value) AS min, max(value) AS max, avg(value) AS mean,
                       count(*) AS count
                FROM scalars WHERE signal_id = $1 AND ts >= make_timestamp_ns($2)
                AND ts < make_timestamp_ns($3) GROUP BY 1 ORDER BY 1""",
                params=[sid, start_ns, end_ns],
            ).to_arrow_table()
            return table.set_column(0, "ts", table.column("ts").cast(_TS_UTC))

        return await self._db.run_read(read)

    async def read_waveforms(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[WaveformBlock]:
        """Blocks starting in ``[start_ns, end_ns)``, oldest first."""
        sid = self._db.catalog.info(ref, SignalKind.WAVEFORM).id
        lim = _limit(limit)

        def read(con: Connection) -> list[tuple[Any, ...]]:
            return con.execute(
                f"""SELECT epoch_ns(ts), sample_rate_hz, n_samples, n_channels, dtype, unit,
                quality, status_code, epoch_ns(ingest_ts), provenance_id, payload
                FROM waveforms WHERE signal_id = ? AND ts >= make_timestamp_ns(?)
                AND ts < make_timestamp_ns(?) ORDER BY ts {lim}""",
                [sid, start_ns, end_ns],
            ).fetchall()

        catalog = self._db.catalog
        out = []
        for (
            t0,
            rate,
            n,
            ch,
            dtype,
            unit,
            q,
            status,
            ingest,
            pid,
            payload,
        ) in await self._db.run_read(read):
            data = np.frombuffer(payload, dtype=np.dtype(dtype).newbyteorder("<"))
            data = data.reshape(n, ch) if ch > 1 else data
            out.append(
                WaveformBlock(
                    ref,
                    int(t0),
                    float(rate),
                    data,
                    unit,
                    catalog.provenance_of(pid),
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
        sid = self._db.catalog.info(ref, SignalKind.IMAGE).id
        lim = _limit(limit)

        def read(con: Connection) -> list[tuple[Any, ...]]:
            # a file of an older version opened read-only has no attributes column
            attributes = "attributes" if has_column(con, "images", "attributes") else "NULL"
            return con.execute(
                f"""SELECT epoch_ns(ts), format, height, width, channels, quality, status_code,
                epoch_ns(ingest_ts), provenance_id, payload, {attributes} FROM images
                WHERE signal_id = ? AND ts >= make_timestamp_ns(?) AND ts < make_timestamp_ns(?)
                ORDER BY ts {lim}""",
                [sid, start_ns, end_ns],
            ).fetchall()

        catalog = self._db.catalog
        return [
            ImageRecord(
                ref,
                int(ts),
                bytes(payload),
                fmt,
                (int(h), int(w), int(c)),
                catalog.provenance_of(pid),
                Quality(q),
                int(status),
                int(ingest),
                json.loads(attrs) if attrs else {},
            )
            for ts, fmt, h, w, c, q, status, ingest, pid, payload, attrs in await self._db.run_read(
                read
            )
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
        catalog = self._db.catalog
        where = ["ts >= make_timestamp_ns(?)", "ts < make_timestamp_ns(?)"]
        params: list[Any] = [start_ns, end_ns]
        if ref is not None:
            info = catalog.signals.get(ref)
            if info is None:
                return []
            where.append("signal_id = ?")
            params.append(info.id)
        if asset is not None:
            ids = [i.id for r, i in catalog.signals.items() if r.asset == asset]
            if not ids:
                return []
            where.append(f"signal_id IN ({','.join(map(str, ids))})")
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        lim = _limit(limit)

        def read(con: Connection) -> list[tuple[Any, ...]]:
            return con.execute(
                f"""SELECT signal_id, epoch_ns(ts), kind, severity, message, attributes, quality,
                epoch_ns(ingest_ts), provenance_id FROM events WHERE {" AND ".join(where)}
                ORDER BY ts {lim}""",
                params,
            ).fetchall()

        return [
            EventRecord(
                catalog.signals_by_id[sid].ref,
                int(ts),
                k,
                catalog.provenance_of(pid),
                msg,
                sev,
                json.loads(attrs) if attrs else {},
                Quality(q),
                int(ingest),
            )
            for sid, ts, k, sev, msg, attrs, q, ingest, pid in await self._db.run_read(read)
        ]

    @staticmethod
    def _dead_letter_filter(since_ns: int | None, source: str | None) -> tuple[str, list[Any]]:
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
        """Dead letters, newest first (the last ``limit`` kept)."""
        where, params = self._dead_letter_filter(since_ns, source)

        def read(con: Connection) -> list[tuple[Any, ...]]:
            return con.execute(
                f"""SELECT epoch_ns(received_ts), source, location, reason, payload, detail
                FROM dead_letters WHERE {where} ORDER BY id DESC LIMIT {int(limit)}""",
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
            for ts, src, loc, reason, payload, detail in await self._db.run_read(read)
        ]

    async def count_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None
    ) -> int:
        """How many dead letters match."""
        where, params = self._dead_letter_filter(since_ns, source)

        def read(con: Connection) -> int:
            row = first(
                con.execute(f"SELECT count(*) FROM dead_letters WHERE {where}", params).fetchall()
            )
            return int(row[0]) if row else 0

        return await self._db.run_read(read)

    async def time_range(self, ref: SignalRef) -> tuple[int, int] | None:
        """First and last timestamp stored for ``ref``."""
        info = self._db.catalog.info(ref)
        table = TABLES[info.kind]

        def read(con: Connection) -> tuple[int, int] | None:
            row = first(
                con.execute(
                    f"SELECT epoch_ns(min(ts)), epoch_ns(max(ts)) FROM {table} WHERE signal_id = ?",
                    [info.id],
                ).fetchall()
            )
            if row is None or row[0] is None:
                return None
            return int(row[0]), int(row[1])

        return await self._db.run_read(read)

    async def count(
        self, ref: SignalRef, start_ns: int | None = None, end_ns: int | None = None
    ) -> int:
        """Number of values stored for ``ref`` (optionally in a range)."""
        info = self._db.catalog.info(ref)
        table = TABLES[info.kind]
        where, params = ["signal_id = ?"], [info.id]
        if start_ns is not None:
            where.append("ts >= make_timestamp_ns(?)")
            params.append(start_ns)
        if end_ns is not None:
            where.append("ts < make_timestamp_ns(?)")
            params.append(end_ns)

        def read(con: Connection) -> int:
            row = first(
                con.execute(
                    f"SELECT count(*) FROM {table} WHERE {' AND '.join(where)}", params
                ).fetchall()
            )
            return int(row[0]) if row else 0

        return await self._db.run_read(read)
