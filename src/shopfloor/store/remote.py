"""A :class:`~shopfloor.store.Store` that is a running platform, reached over its API.

DuckDB lets one process write a file; while the platform runs, the CLI (and any other
process) uses this client instead of opening the file. It authenticates with a bearer
token (the running platform's own, or one made by ``shopfloor tokens create``), and an
error answer is raised again as the class the platform raised: the API sends the class
name, :func:`shopfloor.errors.error_from_http` finds it in the shared table.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pyarrow as pa

from shopfloor.errors import StoreError, StoreFailed, StoreUnavailable, error_from_http
from shopfloor.model import (
    Alert,
    AlertChange,
    AlertState,
    Annotation,
    DeadLetter,
    EventRecord,
    ImageRecord,
    Record,
    Signal,
    SignalRef,
    WaveformBlock,
)
from shopfloor.model.codec import (
    decode_dead_letters,
    decode_records,
    encode_dead_letters,
    encode_records,
)
from shopfloor.model.deployment import Deployment, DeploymentChange
from shopfloor.store.protocol import SignalInfo, StoreStats, WriteReport

__all__ = ["RemoteStore"]

_ARROW = "application/vnd.apache.arrow.stream"
_PIECE_BYTES = 1024 * 1024


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    """``body`` sent in pieces; the body is let go once sent.

    Given as ``bytes``, a request body stays referenced by the request and the response
    (objects in reference cycles, freed only by the garbage collector), so a long write
    would keep many tens of MB of sent bodies alive; the finished generator holds none.
    """
    view = memoryview(body)
    del body
    for start in range(0, len(view), _PIECE_BYTES):
        yield bytes(view[start : start + _PIECE_BYTES])


class RemoteStore:
    """The store of a running platform at ``base_url`` (e.g. ``http://127.0.0.1:8000``).

    Parameters
    ----------
    base_url
        The platform's API.
    token
        The API token sent as ``Authorization: Bearer``; ``None`` sends none (every
        route but ``/healthz`` then answers 401, raised as ``AuthenticationRequired``).
    timeout_s
        Timeout of each request.
    max_part_bytes
        Largest Arrow IPC body of one write request (below the API's ``max_body_bytes``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 60.0,
        max_part_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_part_bytes = max_part_bytes
        self._timeout_s = timeout_s
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        """Connect and check the platform answers and accepts the token."""
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=self._timeout_s, headers=self._headers
        )
        await self._get("/api/v1/health")

    async def close(self) -> None:
        """Close the connection."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            raise StoreUnavailable(f"remote store {self.base_url} is not open")
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise StoreUnavailable(f"platform API at {self.base_url} unreachable: {err}") from err
        if response.status_code >= 400:
            name: str | None = None
            detail: Any = response.text
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                name = body.get("error") if isinstance(body.get("error"), str) else None
                detail = body.get("detail", detail)
            raise error_from_http(
                response.status_code,
                name,
                f"{method} {path} failed ({response.status_code}): {detail}",
            )
        return response

    async def _get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return (await self._request("GET", path, params=clean)).json()

    async def register_signals(self, asset: str, signals: Sequence[Signal]) -> list[SignalInfo]:
        """Register on the platform."""
        await self._request(
            "POST",
            "/api/v1/signals",
            json={"asset": asset, "signals": [s.model_dump(mode="json") for s in signals]},
        )
        wanted = {s.name for s in signals}
        return [i for i in await self.signals() if i.ref.asset == asset and i.ref.name in wanted]

    async def signals(self) -> list[SignalInfo]:
        """The platform's signals."""
        return [
            SignalInfo(
                SignalRef(s["asset"], s["name"]),
                int(s["id"]),
                Signal.model_validate(s["definition"]),
            )
            for s in await self._get("/api/v1/signals")
        ]

    async def write(self, records: Sequence[Record]) -> WriteReport:
        """Send records as Arrow IPC streams, each under ``max_part_bytes`` when it can be.

        A stream larger than that is split by halving the records, so a big write does
        not meet the API's body limit (413).
        """
        report = WriteReport()
        parts = await asyncio.to_thread(self._parts, records)
        while parts:
            size = len(parts[0])
            body = (
                await self._request(
                    "POST",
                    "/api/v1/records",
                    content=_pieces(parts.pop(0)),
                    headers={"content-type": _ARROW, "content-length": str(size)},
                )
            ).json()
            report.add(
                WriteReport(
                    body["offered"],
                    body["written"],
                    body["duplicates"],
                    body["rejected"],
                    body["conflicts"],
                    dict(body["reasons"]),
                )
            )
        return report

    def _parts(self, records: Sequence[Record]) -> list[bytes]:
        """Arrow IPC streams of ``records``, halving the records while one is too large."""
        parts = encode_records(records)
        if len(records) < 2 or all(len(p) <= self.max_part_bytes for p in parts):
            return parts
        middle = len(records) // 2
        return [*self._parts(records[:middle]), *self._parts(records[middle:])]

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Send dead letters."""
        for start in range(0, len(letters), 10_000):
            await self._request(
                "POST",
                "/api/v1/dead-letters",
                json=encode_dead_letters(letters[start : start + 10_000]),
            )

    async def _arrow_table(self, path: str, **params: Any) -> pa.Table:
        response = await self._request("GET", path, params=params, headers={"accept": _ARROW})
        return pa.ipc.open_stream(pa.py_buffer(response.content)).read_all()

    async def read_scalars(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> pa.Table:
        """Samples over the API."""
        params: dict[str, Any] = {"signal": ref.path, "start_ns": start_ns, "end_ns": end_ns}
        if limit is not None:
            params["limit"] = limit
        return await self._arrow_table("/api/v1/scalars", **params)

    async def read_scalars_downsampled(
        self, ref: SignalRef, start_ns: int, end_ns: int, every_ns: int
    ) -> pa.Table:
        """Buckets over the API."""
        return await self._arrow_table(
            "/api/v1/scalars", signal=ref.path, start_ns=start_ns, end_ns=end_ns, every_ns=every_ns
        )

    async def _records(self, path: str, **params: Any) -> list[Record]:
        clean = {k: v for k, v in params.items() if v is not None}
        response = await self._request("GET", path, params=clean, headers={"accept": _ARROW})
        return decode_records(response.content) if response.content else []

    async def read_waveforms(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[WaveformBlock]:
        """Blocks over the API."""
        found = await self._records(
            "/api/v1/records",
            signal=ref.path,
            start_ns=start_ns,
            end_ns=end_ns,
            kind="waveform",
            limit=limit,
        )
        return [r for r in found if isinstance(r, WaveformBlock)]

    async def read_images(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[ImageRecord]:
        """Images over the API."""
        found = await self._records(
            "/api/v1/records",
            signal=ref.path,
            start_ns=start_ns,
            end_ns=end_ns,
            kind="image",
            limit=limit,
        )
        return [r for r in found if isinstance(r, ImageRecord)]

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
        """Events over the API."""
        found = await self._records(
            "/api/v1/events",
            start_ns=start_ns,
            end_ns=end_ns,
            signal=ref.path if ref else None,
            asset=asset,
            kind=kind,
            limit=limit,
        )
        return [r for r in found if isinstance(r, EventRecord)]

    async def read_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        """Dead letters over the API."""
        return decode_dead_letters(
            await self._get("/api/v1/dead-letters", since_ns=since_ns, source=source, limit=limit)
        )

    async def count_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None
    ) -> int:
        """Count over the API."""
        body = await self._get("/api/v1/dead-letters/count", since_ns=since_ns, source=source)
        return int(body["count"])

    async def time_range(self, ref: SignalRef) -> tuple[int, int] | None:
        """Range over the API."""
        body = await self._get("/api/v1/time-range", signal=ref.path)
        if body["start_ns"] is None:
            return None
        return int(body["start_ns"]), int(body["end_ns"])

    async def count(
        self, ref: SignalRef, start_ns: int | None = None, end_ns: int | None = None
    ) -> int:
        """Count over the API."""
        body = await self._get("/api/v1/count", signal=ref.path, start_ns=start_ns, end_ns=end_ns)
        return int(body["count"])

    async def delete_range(self, ref: SignalRef, start_ns: int, end_ns: int) -> int:
        """Delete the values of ``ref`` in ``[start_ns, end_ns)`` on the platform.

        Needs an engineer or admin token; the platform records it in its audit log.
        Returns how many values were deleted.

        Raises
        ------
        UnknownSignal
            When the platform does not know ``ref``.
        PermissionDenied
            When the token's role is below engineer.
        """
        params = {"signal": ref.path, "start_ns": start_ns, "end_ns": end_ns}
        body = (await self._request("DELETE", "/api/v1/values", params=params)).json()
        return int(body["deleted"])

    async def apply_retention(self, now_ns: int | None = None) -> dict[str, int]:
        """Ask the platform to apply retention."""
        params = {"now_ns": now_ns} if now_ns is not None else {}
        result: dict[str, int] = (
            await self._request("POST", "/api/v1/retention", params=params)
        ).json()
        return result

    async def stats(self) -> StoreStats:
        """The platform's store statistics."""
        body = await self._get("/api/v1/status")
        store = body["store"]
        if store.get("state") == "failed":
            reason = str(store.get("reason"))
            raise StoreFailed(
                f"the store of the platform at {self.base_url} failed: {reason}", reason=reason
            )
        return StoreStats(
            rows=dict(store["rows"]),
            size_bytes=int(store["size_bytes"]),
            location=f"{self.base_url} ({store['location']})",
        )

    # -- labels: not served over HTTP yet ---------------------------------------------------

    def _no_labels(self) -> StoreError:
        return StoreError(
            f"labels are not served over HTTP yet: the platform at {self.base_url} owns the "
            "store; stop it to add, list or delete labels, or train with --labels none"
        )

    async def add_annotation(self, annotation: Annotation) -> Annotation:
        """Not over HTTP yet: ``StoreError`` saying so."""
        raise self._no_labels()

    async def list_annotations(
        self,
        *,
        asset: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        label: str | None = None,
    ) -> list[Annotation]:
        """Not over HTTP yet: ``StoreError`` saying so."""
        raise self._no_labels()

    async def delete_annotation(self, annotation_id: int) -> bool:
        """Not over HTTP yet: ``StoreError`` saying so."""
        raise self._no_labels()

    # -- alerts: not served over HTTP yet ---------------------------------------------------

    def _no_alerts(self) -> StoreError:
        return StoreError(
            f"alerts are not served over HTTP yet: the platform at {self.base_url} owns the "
            "store; its health ('shopfloor status') shows the open alerts, and the platform "
            "must be stopped to list or change them"
        )

    async def save_alert(self, alert: Alert, changes: Sequence[AlertChange]) -> Alert:
        """Not over HTTP yet: ``StoreError`` saying so."""
        raise self._no_alerts()

    async def get_alert(self, alert_id: int) -> Alert | None:
        """Not over HTTP yet: ``StoreError`` saying so."""
        raise self._no_alerts()

    async def list_alerts(
        self,
        *,
        states: Sequence[AlertState] | None = None,
        asset: str | None = None,
        rule: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Not over HTTP yet: ``StoreError`` saying so."""
        raise self._no_alerts()

    async def alert_history(self, alert_id: int) -> list[AlertChange]:
        """Not over HTTP yet: ``StoreError`` saying so."""
        raise self._no_alerts()

    # -- deployments: over the API's /api/v1/deployments ------------------------------------

    async def save_deployment(self, deployment: Deployment, change: DeploymentChange) -> None:
        """Keep ``deployment`` and log ``change`` in the platform's store (engineer role)."""
        await self._request(
            "POST",
            "/api/v1/deployments",
            json={"deployment": deployment.as_dict(), "change": change.as_dict()},
        )

    async def list_deployments(
        self, *, name: str | None = None, asset: str | None = None
    ) -> list[Deployment]:
        """Deployments (running and stopped), by name then asset."""
        rows = await self._get("/api/v1/deployments", name=name, asset=asset)
        return [Deployment.from_dict(r) for r in rows]

    async def deployment_log(
        self, *, name: str | None = None, asset: str | None = None, limit: int | None = None
    ) -> list[DeploymentChange]:
        """The deployments' audit log, newest first."""
        rows = await self._get("/api/v1/deployments/log", name=name, asset=asset, limit=limit)
        return [DeploymentChange.from_dict(r) for r in rows]
