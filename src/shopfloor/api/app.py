"""The platform's REST API (FastAPI): the store, health and status over HTTP.

The CLI talks to a running platform through it (the platform owns the DuckDB file), and
the Studio will call the same routes. Bulk data is exchanged as Arrow IPC streams
(``application/vnd.apache.arrow.stream``), everything else as JSON; reads of samples
and events answer JSON unless the request accepts Arrow. OpenAPI at ``/docs`` and
``/openapi.json``.

``/metrics`` answers in the Prometheus text format (:mod:`shopfloor.api.metrics`).
Every route but ``/healthz`` needs a bearer token whose role allows it (see
:mod:`shopfloor.api.tokens`); :mod:`shopfloor.api.security` refuses foreign Host
headers, writes that are neither JSON nor Arrow, and bodies over the limit. Destructive
operations (retention, signal redefinition, deleting a range) and requests refused for
their token are appended to the audit log (:mod:`shopfloor.api.audit`). Errors
answer ``{"error": class name, "detail": message}`` with the status of
:data:`shopfloor.errors.HTTP_STATUS`, so clients raise the same class again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from typing import Annotated, Any

import pyarrow as pa
from fastapi import Body, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from shopfloor import __version__
from shopfloor.api.forms import parse_form
from shopfloor.api.metrics import CONTENT_TYPE, prometheus_text
from shopfloor.api.security import (
    ARROW_STREAM,
    UPLOAD_TYPES,
    Admin,
    ApiSecurity,
    Engineer,
    Operator,
    Principal,
    RequestGuard,
    Viewer,
    error_body,
    record_refusal,
    unauthorized_headers,
)
from shopfloor.api.tokens import Role
from shopfloor.errors import (
    AuthenticationRequired,
    ImageTooLarge,
    PayloadTooLarge,
    PermissionDenied,
    RecordError,
    RequestInvalid,
    ShopfloorError,
    StoreError,
    UnsupportedMediaType,
    http_status,
)
from shopfloor.model import EventRecord, Signal, SignalRef, format_ns, now_ns, to_ns
from shopfloor.model.codec import (
    decode_dead_letters,
    decode_records,
    encode_dead_letters,
    encode_records,
)
from shopfloor.model.deployment import Deployment, DeploymentChange
from shopfloor.services.alerts import (
    AlertChangeOptions,
    AlertListOptions,
    FeedbackOptions,
    ShelveOptions,
    alert_counts,
    change_alert,
    list_alerts,
    show_alert,
)
from shopfloor.services.images import refuse_image, store_image
from shopfloor.services.users import UserRegistry, parse_role
from shopfloor.store import DeletingStore, Store
from shopfloor.store.protocol import DeploymentStore

__all__ = ["ARROW_STREAM", "create_app"]

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
Ns = Annotated[int, Query(ge=_INT64_MIN, le=_INT64_MAX, description="UTC nanoseconds.")]
OptNs = Annotated[int | None, Query(ge=_INT64_MIN, le=_INT64_MAX, description="UTC nanoseconds.")]
Limit = Annotated[int | None, Query(gt=0, le=_INT64_MAX)]
_RETENTION_FUTURE_NS = 60 * 1_000_000_000


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


def _event_json(event: EventRecord) -> dict[str, Any]:
    return {
        "asset": event.signal.asset,
        "signal": event.signal.name,
        "time": format_ns(event.ts_ns),
        "ts_ns": event.ts_ns,
        "kind": event.kind,
        "message": event.message,
        "severity": event.severity,
        "attributes": dict(event.attributes),
        "quality": event.quality.name.lower(),
        "provenance": asdict(event.provenance),
        "ingest_ns": event.ingest_ns,
    }


_UPLOAD_FIELDS = ("part_id", "barcode", "label", "timestamp")
_FORM_OVERHEAD = 64 * 1024
"""Bytes a multipart form may hold beyond its image (boundaries, headers, text fields)."""


def _upload_time(text: str) -> int:
    """An upload's ``timestamp``: UTC nanoseconds, or ISO 8601 with a zone."""
    try:
        return int(text) if text.lstrip("-").isdigit() else to_ns(text)
    except (ValueError, TypeError) as err:
        raise HTTPException(
            422, f"timestamp {text!r}: give ISO 8601 with a zone or UTC nanoseconds ({err})"
        ) from err


def _wants_arrow(request: Request) -> bool:
    return ARROW_STREAM in request.headers.get("accept", "")


def create_app(
    store: Store,
    security: ApiSecurity,
    *,
    status: StatusProvider | None = None,
    mounts: Sequence[tuple[str, ASGIApp]] = (),
) -> FastAPI:
    """Build the API over ``store``.

    Parameters
    ----------
    store
        The store the routes read and write.
    security
        Accepted tokens, Host names, body limits and the audit log.
    status
        Reports the running platform's health (``/api/v1/status``).
    mounts
        Apps served beside the API under a path (the Studio at ``/studio``); ``/``
        redirects to the first. The request guard applies to them too.
    """
    app = FastAPI(title="shopfloor", version=__version__, description="Smart Factory platform API")
    app.add_middleware(RequestGuard, security=security)
    app.state.security = security
    for path, mounted in mounts:
        app.mount(path, mounted)
    if mounts:

        @app.get("/", include_in_schema=False)
        async def home() -> RedirectResponse:
            return RedirectResponse(f"{mounts[0][0]}/", status_code=303)

    async def audit(
        who: Principal, action: str, call: Callable[[], Awaitable[Any]], detail: dict[str, Any]
    ) -> Any:
        """Run ``call`` and record it in the audit log, whether it succeeds or not."""
        try:
            result = await call()
        except Exception as err:
            if security.audit is not None:
                await security.audit.record(
                    who=who.name,
                    role=who.role.value,
                    client=who.client,
                    action=action,
                    outcome=f"failed: {type(err).__name__}: {err}",
                    detail=detail,
                )
            raise
        if security.audit is not None:
            await security.audit.record(
                who=who.name,
                role=who.role.value,
                client=who.client,
                action=action,
                outcome="ok",
                detail={**detail, "result": result},
            )
        return result

    @app.exception_handler(ShopfloorError)
    async def shopfloor_error(request: Request, exc: ShopfloorError) -> JSONResponse:
        if isinstance(exc, AuthenticationRequired | PermissionDenied):
            await record_refusal(security, request, exc)
        return JSONResponse(
            error_body(exc), status_code=http_status(exc), headers=unauthorized_headers(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = {415: UnsupportedMediaType.__name__, 422: RequestInvalid.__name__}.get(
            exc.status_code, "HTTPError"
        )
        return JSONResponse(
            {"error": name, "detail": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return JSONResponse({"error": RequestInvalid.__name__, "detail": problems}, status_code=422)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness without a token: answers while the API runs."""
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(who: Viewer) -> PlainTextResponse:
        """The platform's metrics in the Prometheus text format (viewer token).

        Ingest (values received and rejected by connector), queue depths (bus to store,
        journals, spill), store rows and size, connector health, windows scored and
        alert counts: see :mod:`shopfloor.api.metrics`.
        """
        body: dict[str, Any] = {} if status is None else await status()
        stats: dict[str, Any] = {}
        with contextlib.suppress(StoreError):
            found = await store.stats()
            stats = {"rows": found.rows, "size_bytes": found.size_bytes}
        counts: dict[tuple[str, str], int] = {}
        with contextlib.suppress(StoreError):
            counts = await alert_counts(store)
        return PlainTextResponse(prometheus_text(body, stats, counts), media_type=CONTENT_TYPE)

    @app.get("/api/v1/health")
    async def health(who: Viewer) -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/v1/status")
    async def get_status(who: Viewer) -> dict[str, Any]:
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
    async def signals(who: Viewer) -> list[dict[str, Any]]:
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
        who: Engineer,
        asset: Annotated[str, Body()],
        signals: Annotated[list[dict[str, Any]], Body()],
    ) -> dict[str, int]:
        """Register signals; changing the definition of a known signal needs admin (audited)."""
        try:
            parsed = [Signal.model_validate(s) for s in signals]
            refs = [SignalRef.checked(asset, s.name) for s in parsed]
        except ValueError as err:
            raise HTTPException(422, str(err)) from err
        known = {i.ref: i.definition for i in await store.signals()}
        changed = [
            ref.path
            for ref, new in zip(refs, parsed, strict=True)
            if ref in known and known[ref] != new
        ]
        if not changed:
            infos = await store.register_signals(asset, parsed)
            return {"registered": len(infos)}
        if not who.role.allows(Role.ADMIN):
            raise PermissionDenied(
                f"POST /api/v1/signals redefines {', '.join(changed)}: that needs the admin "
                f"role; token {who.name!r} has {who.role.value}"
            )

        async def redefine() -> int:
            return len(await store.register_signals(asset, parsed))

        detail = {
            "signals": changed,
            "definitions": [
                s.model_dump(mode="json") for s in parsed if f"{asset}/{s.name}" in changed
            ],
        }
        return {"registered": await audit(who, "redefine_signals", redefine, detail)}

    @app.post(
        "/api/v1/records",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def write_records(request: Request, who: Operator) -> dict[str, Any]:
        """Write records sent as Arrow IPC streams (``model.codec.encode_records``)."""
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != ARROW_STREAM:
            raise HTTPException(
                415,
                f"POST /api/v1/records takes {ARROW_STREAM}, got {media or 'no content type'!r}",
            )
        # the body is bounded by RequestGuard (max_body_bytes); decoding is CPU work,
        # kept off the event loop so that other requests are answered meanwhile
        body = await request.body()
        try:
            records = await asyncio.to_thread(decode_records, body)
        except (ValueError, KeyError, TypeError, RecordError, pa.ArrowException) as err:
            raise HTTPException(422, f"records body of {len(body)} bytes: {err}") from err
        report = await store.write(records)
        return {
            "offered": report.offered,
            "written": report.written,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "conflicts": report.conflicts,
            "reasons": report.reasons,
        }

    @app.post(
        "/api/v1/images/{target:path}",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                **{k: {"type": "string"} for k in _UPLOAD_FIELDS},
                            },
                            "required": ["file"],
                        }
                    },
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                },
            }
        },
    )
    async def upload_image(
        request: Request,
        who: Operator,
        target: str,
        part_id: str | None = None,
        barcode: str | None = None,
        label: str | None = None,
        timestamp: str | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """Store one image of signal ``{asset path}/{signal}`` (operator).

        The body is a ``multipart/form-data`` form with a ``file`` (and optionally the
        fields ``part_id``, ``barcode``, ``label``, ``timestamp``), or the raw image
        (``image/png``, ``image/jpeg``) with those as query parameters. What the bytes
        are is decided by decoding them: 415 for no image, 422 for a truncated one, 413
        above ``max_image_bytes``; each refusal is also kept as a dead letter.
        ``timestamp`` is ISO 8601 with a zone or UTC nanoseconds (default: now).
        """
        ref = _ref(target)
        location = f"POST {request.url.path}"
        media = request.headers.get("content-type", "")
        if media.split(";", 1)[0].strip().lower() not in UPLOAD_TYPES:
            raise UnsupportedMediaType(
                f"{location} takes {', '.join(sorted(UPLOAD_TYPES))}, got {media!r}"
            )
        fields = {"part_id": part_id, "barcode": barcode, "label": label, "timestamp": timestamp}
        name = filename or "upload"
        data = await _upload_body(request, ref, name, location, who)
        if media.split(";", 1)[0].strip().lower() == "multipart/form-data":
            parts = parse_form(media, data)
            files = [p for p in parts if p.filename is not None or p.name == "file"]
            if not files:
                raise HTTPException(422, f"{location}: the form has no file field")
            data, name = files[0].data, files[0].filename or name
            for part in parts:
                if part.name in _UPLOAD_FIELDS and part.filename is None:
                    fields[part.name] = part.text
        ts_text = fields.pop("timestamp")
        attributes = {k: v for k, v in fields.items() if v}
        stored = await store_image(
            store,
            ref,
            data,
            name=name,
            max_bytes=security.max_image_bytes,
            attributes=attributes,
            ts_ns=None if not ts_text else _upload_time(ts_text),
            location=location,
            who=who.name,
        )
        report = stored.report
        if report.conflicts:
            raise HTTPException(
                409,
                f"{ref.path} already holds a different image at {format_ns(stored.record.ts_ns)}"
                " (first write wins; this one is in the dead letters)",
            )
        if report.rejected:
            raise HTTPException(422, f"{ref.path}: image refused: {report.reasons}")
        return stored.as_dict()

    async def _upload_body(
        request: Request, ref: SignalRef, name: str, location: str, who: Principal
    ) -> bytes:
        """The request body, at most the image limit (plus a form's own bytes), or 413."""
        limit = security.max_image_bytes
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        allowance = limit + (_FORM_OVERHEAD if media == "multipart/form-data" else 0)
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else None
        body = bytearray()
        if size is None or size <= allowance:
            async for chunk in request.stream():
                body += chunk
                if len(body) > allowance:
                    break
            else:
                return bytes(body)
        received = len(body)
        with contextlib.suppress(PayloadTooLarge):  # beyond max_body_bytes the guard answers
            async for chunk in request.stream():  # read the rest so the client hears the 413
                received += len(chunk)
        error = ImageTooLarge(
            f"{location}: upload of {size or received} bytes exceeds the image limit of "
            f"{limit} bytes (api.max_image_bytes)"
        )
        await refuse_image(
            store,
            error,
            ref=ref,
            name=name,
            size=size or received,
            source="api",
            location=location,
            who=who.name,
        )
        raise error

    @app.post("/api/v1/dead-letters")
    async def write_dead_letters(who: Operator, items: list[dict[str, Any]]) -> dict[str, int]:
        try:
            letters = decode_dead_letters(items)
        except KeyError as err:
            raise HTTPException(422, f"malformed dead letters: field {err} missing") from err
        except (ValueError, AttributeError, TypeError) as err:
            raise HTTPException(422, f"malformed dead letters: {err}") from err
        await store.write_dead_letters(letters)
        return {"written": len(letters)}

    @app.get("/api/v1/dead-letters")
    async def read_dead_letters(
        who: Viewer,
        since_ns: OptNs = None,
        source: str | None = None,
        limit: Annotated[int, Query(gt=0, le=100_000)] = 1000,
    ) -> list[dict[str, Any]]:
        return encode_dead_letters(
            await store.read_dead_letters(since_ns=since_ns, source=source, limit=limit)
        )

    @app.get("/api/v1/dead-letters/count")
    async def count_dead_letters(
        who: Viewer, since_ns: OptNs = None, source: str | None = None
    ) -> dict[str, int]:
        return {"count": await store.count_dead_letters(since_ns=since_ns, source=source)}

    @app.get("/api/v1/scalars")
    async def scalars(
        request: Request,
        who: Viewer,
        signal: str,
        start_ns: Ns,
        end_ns: Ns,
        every_ns: Annotated[int | None, Query(gt=0, le=_INT64_MAX)] = None,
        limit: Limit = None,
    ) -> Any:
        ref = _ref(signal)
        if every_ns is not None:
            table = await store.read_scalars_downsampled(ref, start_ns, end_ns, every_ns)
        else:
            table = await store.read_scalars(ref, start_ns, end_ns, limit=limit)
        if _wants_arrow(request):
            return _arrow(table)
        return _table_json(table)

    @app.get("/api/v1/records")
    async def read_records(
        who: Viewer,
        signal: str,
        start_ns: Ns,
        end_ns: Ns,
        kind: str,
        limit: Limit = None,
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
        request: Request,
        who: Viewer,
        start_ns: Ns,
        end_ns: Ns,
        signal: str | None = None,
        asset: str | None = None,
        kind: str | None = None,
        limit: Limit = None,
    ) -> Any:
        """Events as JSON rows, or as an Arrow IPC stream when the request accepts it."""
        found = await store.read_events(
            start_ns,
            end_ns,
            ref=_ref(signal) if signal else None,
            asset=asset,
            kind=kind,
            limit=limit,
        )
        if _wants_arrow(request):
            parts = encode_records(found)
            return Response(parts[0] if parts else b"", media_type=ARROW_STREAM)
        return [_event_json(e) for e in found]

    @app.get("/api/v1/time-range")
    async def time_range(who: Viewer, signal: str) -> dict[str, int | None]:
        found = await store.time_range(_ref(signal))
        return {"start_ns": found[0] if found else None, "end_ns": found[1] if found else None}

    @app.get("/api/v1/count")
    async def count(
        who: Viewer, signal: str, start_ns: OptNs = None, end_ns: OptNs = None
    ) -> dict[str, int]:
        return {"count": await store.count(_ref(signal), start_ns, end_ns)}

    @app.delete("/api/v1/values")
    async def delete_values(who: Engineer, signal: str, start_ns: Ns, end_ns: Ns) -> dict[str, int]:
        """Delete the values of ``signal`` in ``[start_ns, end_ns)`` (engineer; audited).

        For replacing a pipeline's outputs with those of a new fit (``shopfloor pipelines
        run --rescore``). Answers how many values were deleted; an unknown signal is 404,
        an empty or reversed range 422.
        """
        ref = _ref(signal)
        if end_ns <= start_ns:
            raise HTTPException(
                422,
                f"DELETE /api/v1/values of {ref.path}: end_ns {end_ns} ({format_ns(end_ns)}) "
                f"must be after start_ns {start_ns} ({format_ns(start_ns)})",
            )
        if not isinstance(store, DeletingStore):
            raise StoreError(f"the store {type(store).__name__} cannot delete a range")
        deleting: DeletingStore = store

        async def delete() -> int:
            return await deleting.delete_range(ref, start_ns, end_ns)

        detail = {"signal": ref.path, "start_ns": start_ns, "end_ns": end_ns}
        deleted: int = await audit(who, "delete_range", delete, detail)
        return {"deleted": deleted}

    def _deployments() -> DeploymentStore:
        if not isinstance(store, DeploymentStore):
            raise StoreError(f"the store {type(store).__name__} keeps no deployments")
        return store

    @app.get("/api/v1/deployments")
    async def list_deployments(
        who: Viewer, name: str | None = None, asset: str | None = None
    ) -> list[dict[str, Any]]:
        """The deployments (desired state), running and stopped."""
        found = await _deployments().list_deployments(name=name, asset=asset)
        return [d.as_dict() for d in found]

    @app.get("/api/v1/deployments/log")
    async def deployment_log(
        who: Viewer, name: str | None = None, asset: str | None = None, limit: Limit = None
    ) -> list[dict[str, Any]]:
        """The deployments' audit log, newest first."""
        found = await _deployments().deployment_log(name=name, asset=asset, limit=limit)
        return [c.as_dict() for c in found]

    @app.post("/api/v1/deployments")
    async def save_deployment(
        who: Engineer, body: Annotated[dict[str, Any], Body()]
    ) -> dict[str, Any]:
        """Keep a deployment with the change that made it (engineer; audited).

        The running platform picks the new desired state up and swaps between two windows.
        The change's ``who`` is kept with the token's name beside it.
        """
        try:
            deployment = Deployment.from_dict(dict(body["deployment"]))
            change = DeploymentChange.from_dict(dict(body["change"]))
        except (KeyError, TypeError, ValueError) as err:
            raise RequestInvalid(f"POST /api/v1/deployments: {type(err).__name__}: {err}") from err
        if change.who != who.name:
            change = replace(change, who=f"{change.who} (token {who.name})")
        target = _deployments()

        async def save() -> str:
            await target.save_deployment(deployment, change)
            return change.action

        detail = {"deployment": deployment.name, "asset": deployment.asset, "to": change.to_ref}
        action: str = await audit(who, f"deployment_{change.action}", save, detail)
        return {"saved": action}

    @app.get("/api/v1/alerts")
    async def get_alerts(
        who: Viewer,
        state: Annotated[str, Query(max_length=32)] = "active",
        asset: Annotated[str | None, Query(max_length=512)] = None,
        rule: Annotated[str | None, Query(max_length=128)] = None,
        severity: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(gt=0, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        """Alerts newest first (``state``: active, open, acknowledged, resolved, all)."""
        options = AlertListOptions(
            state=state, asset=asset, rule=rule, severity=severity, limit=limit
        )
        return await list_alerts(store, options)

    @app.get("/api/v1/alerts/{alert_id}")
    async def get_alert(
        who: Viewer, alert_id: Annotated[int, Path(ge=1, le=_INT64_MAX)]
    ) -> dict[str, Any]:
        """One alert with its history (every change, oldest first)."""
        return await show_alert(store, alert_id)

    @app.post("/api/v1/alerts/{alert_id}/{action}")
    async def change(
        who: Operator,
        alert_id: Annotated[int, Path(ge=1, le=_INT64_MAX)],
        action: str,
        comment: Annotated[str, Body(max_length=2000)] = "",
        verdict: Annotated[str | None, Body(max_length=32)] = None,
        fault: Annotated[str | None, Body(max_length=64)] = None,
        for_: Annotated[str, Body(alias="for", max_length=32)] = "1h",
    ) -> dict[str, Any]:
        """Change an alert as ``shopfloor alerts`` does (operator; audited).

        ``action`` is ``ack``, ``resolve``, ``shelve`` (for ``for``: 30min, 2h...),
        ``unshelve`` or ``feedback`` (``verdict`` confirmed or false_alarm, ``fault``);
        the ``comment`` says why.
        """
        options: AlertChangeOptions
        if action == "feedback":
            options = FeedbackOptions(
                alert_id=alert_id, comment=comment, verdict=verdict or "", fault=fault
            )
        elif action == "shelve":
            options = ShelveOptions(alert_id=alert_id, comment=comment, for_=for_)
        else:
            options = AlertChangeOptions(alert_id=alert_id, comment=comment)

        async def apply() -> dict[str, Any]:
            return await change_alert(store, action, options, who=who.name)

        detail = {"alert": alert_id, "comment": comment}
        result: dict[str, Any] = await audit(who, f"alert_{action}", apply, detail)
        return result

    def _users() -> UserRegistry:
        if security.users is None:
            raise StoreError("this API keeps no users (serve it with a project)")
        return security.users

    @app.get("/api/v1/users")
    async def list_users(who: Admin) -> list[dict[str, Any]]:
        """The Studio's users: name, role, creation time, disabled (admin; never a hash)."""
        found = await asyncio.to_thread(_users().users)
        return [u.as_dict() for u in found]

    @app.post("/api/v1/users")
    async def create_user(
        who: Admin,
        name: Annotated[str, Body(min_length=1, max_length=64)],
        role: Annotated[str, Body(max_length=16)],
        password: Annotated[str, Body(min_length=1, max_length=1024)],
    ) -> dict[str, Any]:
        """Create a Studio user (admin; audited, never the password): ``shopfloor users create``."""
        registry, parsed = _users(), parse_role(role, what="role")

        async def make() -> dict[str, Any]:
            made = await asyncio.to_thread(registry.create, name, parsed, password)
            return made.as_dict()

        result: dict[str, Any] = await audit(
            who, "user_create", make, {"user": name, "role": parsed.value}
        )
        return result

    @app.post("/api/v1/users/{name}/{change}")
    async def change_user(who: Admin, name: str, change: str) -> dict[str, Any]:
        """``disable`` (their sessions end) or ``enable`` user ``name`` (admin; audited)."""
        if change not in ("disable", "enable"):
            raise RequestInvalid(f"POST /api/v1/users/{name}/{change}: use disable or enable")
        registry = _users()

        async def apply() -> dict[str, Any]:
            changed = await asyncio.to_thread(registry.set_disabled, name, change == "disable")
            return changed.as_dict()

        result: dict[str, Any] = await audit(who, f"user_{change}", apply, {"user": name})
        return result

    @app.post("/api/v1/retention")
    async def retention(
        who: Admin,
        now_ns_: Annotated[
            int | None,
            Query(alias="now_ns", ge=_INT64_MIN, le=_INT64_MAX, description="UTC nanoseconds."),
        ] = None,
    ) -> dict[str, int]:
        """Delete data older than each signal's retention (admin; audited).

        ``now_ns`` may move "now" back (to keep more), never more than a minute ahead:
        a far future "now" would delete all history.
        """
        limit_ns = now_ns() + _RETENTION_FUTURE_NS
        if now_ns_ is not None and now_ns_ > limit_ns:
            raise HTTPException(
                422, f"now_ns {now_ns_} is more than a minute in the future ({format_ns(now_ns_)})"
            )

        async def apply() -> dict[str, int]:
            return await store.apply_retention(now_ns_)

        result: dict[str, int] = await audit(who, "retention", apply, {"now_ns": now_ns_})
        return result

    return app
