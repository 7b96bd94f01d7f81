"""The platform's REST API (FastAPI): the store, health and status over HTTP.

The CLI talks to a running platform through it (the platform owns the DuckDB file), and
the Studio will call the same routes. Bulk data is exchanged as Arrow IPC streams
(``application/vnd.apache.arrow.stream``), everything else as JSON. OpenAPI at
``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pyarrow as pa
from fastapi import Body, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from shopfloor import __version__
from shopfloor.errors import ShopfloorError, StoreError
from shopfloor.model import Signal, SignalRef, format_ns
from shopfloor.model.codec import (
    decode_dead_letters,
    decode_records,
    encode_dead_letters,
    encode_records,
)
from shopfloor.store import Store

__all__ = ["ARROW_STREAM", "create_app"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


def _ref(signal: str) -> SignalRef:
    try:
        return SignalRef.parse(signal)
    except ValueError as err:
        raise HTTPException(422, f"signal {signal!r}: {err}") from err


def _arrow(table: pa.Table) -> Response:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return Response(sink.getvalue().to_pybytes(), media_type=ARROW_STREAM)


def _table_json(table: pa.Table) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            out[name] = [format_ns(v) for v in column.cast(pa.int64()).to_pylist()]
        else:
            out[name] = column.to_pylist()
    return out


def create_app(store: Store, *, status: StatusProvider | None = None) -> FastAPI:
    """Build the API over ``store``; ``status`` reports the running platform's health."""
    app = FastAPI(title="shopfloor", version=__version__, description="Smart Factory platform API")

    @app.exception_handler(ShopfloorError)
    async def shopfloor_error(request: Request, exc: ShopfloorError) -> JSONResponse:
        code = 404 if isinstance(exc, StoreError) and "unknown signal" in str(exc) else 400
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.get("/api/v1/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/v1/status")
    async def get_status() -> dict[str, Any]:
        body: dict[str, Any] = {} if status is None else await status()
        health: dict[str, Any] = body.pop("store", {})
        if health.get("state") != "failed":  # a failed store is not asked for its stats
            try:
                stats = await store.stats()
                health.update(rows=stats.rows, size_bytes=stats.size_bytes, location=stats.location)
            except StoreError as err:
                health.update(state="failed", reason=str(err))
        return {"store": health, **body}

    @app.get("/api/v1/signals")
    async def signals() -> list[dict[str, Any]]:
        return [
            {
                "asset": i.ref.asset,
                "name": i.ref.name,
                "id": i.id,
                "definition": i.definition.model_dump(mode="json"),
            }
            for i in await store.signals()
        ]

    @app.post("/api/v1/signals")
    async def register(
        asset: Annotated[str, Body()], signals: Annotated[list[dict[str, Any]], Body()]
    ) -> dict[str, int]:
        try:
            parsed = [Signal.model_validate(s) for s in signals]
        except ValueError as err:
            raise HTTPException(422, str(err)) from err
        infos = await store.register_signals(asset, parsed)
        return {"registered": len(infos)}

    @app.post("/api/v1/records")
    async def write_records(request: Request) -> dict[str, Any]:
        body = await request.body()
        try:
            records = decode_records(body)
        except ValueError as err:
            raise HTTPException(422, str(err)) from err
        report = await store.write(records)
        return {
            "offered": report.offered,
            "written": report.written,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "conflicts": report.conflicts,
            "reasons": report.reasons,
        }

    @app.post("/api/v1/dead-letters")
    async def write_dead_letters(items: list[dict[str, Any]]) -> dict[str, int]:
        try:
            letters = decode_dead_letters(items)
        except (KeyError, ValueError, AttributeError) as err:
            raise HTTPException(422, f"malformed dead letters: {err}") from err
        await store.write_dead_letters(letters)
        return {"written": len(letters)}

    @app.get("/api/v1/dead-letters")
    async def read_dead_letters(
        since_ns: int | None = None,
        source: str | None = None,
        limit: Annotated[int, Query(gt=0, le=100_000)] = 1000,
    ) -> list[dict[str, Any]]:
        return encode_dead_letters(
            await store.read_dead_letters(since_ns=since_ns, source=source, limit=limit)
        )

    @app.get("/api/v1/dead-letters/count")
    async def count_dead_letters(
        since_ns: int | None = None, source: str | None = None
    ) -> dict[str, int]:
        return {"count": await store.count_dead_letters(since_ns=since_ns, source=source)}

    @app.get("/api/v1/scalars")
    async def scalars(
        request: Request,
        signal: str,
        start_ns: int,
        end_ns: int,
        every_ns: Annotated[int | None, Query(gt=0)] = None,
        limit: Annotated[int | None, Query(gt=0)] = None,
    ) -> Any:
        ref = _ref(signal)
        if every_ns is not None:
            table = await store.read_scalars_downsampled(ref, start_ns, end_ns, every_ns)
        else:
            table = await store.read_scalars(ref, start_ns, end_ns, limit=limit)
        if ARROW_STREAM in request.headers.get("accept", ""):
            return _arrow(table)
        return _table_json(table)

    @app.get("/api/v1/records")
    async def read_records(
        signal: str,
        start_ns: int,
        end_ns: int,
        kind: str,
        limit: Annotated[int | None, Query(gt=0)] = None,
    ) -> Response:
        ref = _ref(signal)
        if kind == "waveform":
            records: list[Any] = await store.read_waveforms(ref, start_ns, end_ns, limit=limit)
        elif kind == "image":
            records = await store.read_images(ref, start_ns, end_ns, limit=limit)
        else:
            raise HTTPException(422, f"kind must be waveform or image, got {kind!r}")
        parts = encode_records(records)
        return Response(parts[0] if parts else b"", media_type=ARROW_STREAM)

    @app.get("/api/v1/events")
    async def events(
        start_ns: int,
        end_ns: int,
        signal: str | None = None,
        asset: str | None = None,
        kind: str | None = None,
        limit: Annotated[int | None, Query(gt=0)] = None,
    ) -> Response:
        found = await store.read_events(
            start_ns,
            end_ns,
            ref=_ref(signal) if signal else None,
            asset=asset,
            kind=kind,
            limit=limit,
        )
        parts = encode_records(found)
        return Response(parts[0] if parts else b"", media_type=ARROW_STREAM)

    @app.get("/api/v1/time-range")
    async def time_range(signal: str) -> dict[str, int | None]:
        found = await store.time_range(_ref(signal))
        return {"start_ns": found[0] if found else None, "end_ns": found[1] if found else None}

    @app.get("/api/v1/count")
    async def count(
        signal: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> dict[str, int]:
        return {"count": await store.count(_ref(signal), start_ns, end_ns)}

    @app.post("/api/v1/retention")
    async def retention(now_ns: int | None = None) -> dict[str, int]:
        return await store.apply_retention(now_ns)

    return app
