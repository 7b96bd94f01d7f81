"""Tokens and roles on every route, Host allow-list, content types, body limits, audit."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.errors import ConfigError
from shopfloor.model import Signal
from tests.api.conftest import ASSET, Api

WRITES = {
    ("POST", "/api/v1/signals"),
    ("POST", "/api/v1/records"),
    ("POST", "/api/v1/dead-letters"),
    ("POST", "/api/v1/retention"),
    ("DELETE", "/api/v1/values"),
}


def _routes(api: Api) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in api.app.routes
        if isinstance(route, APIRoute) and route.path != "/healthz"
        for method in route.methods
    )


async def _send(api: Api, role: Role | None, method: str, path: str, **kw: Any) -> Any:
    async with api.client(role) as client:
        if method == "POST":
            kw.setdefault("json", {})
        return await client.request(method, path, **kw)


async def test_every_route_without_a_token_is_401(api: Api) -> None:
    routes = _routes(api)
    assert len(routes) >= 12
    for method, path in routes:
        response = await _send(api, None, method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"] == "AuthenticationRequired"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_unknown_token_is_401_and_healthz_stays_open(api: Api) -> None:
    async with api.client() as client:
        assert (await client.get("/healthz")).status_code == 200
        bad = await client.get("/api/v1/signals", headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401


async def test_viewer_cannot_write(api: Api) -> None:
    assert set(WRITES) <= set(_routes(api))
    for method, path in sorted(WRITES):
        response = await _send(api, Role.VIEWER, method, path)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"] == "PermissionDenied"
        assert "viewer" in response.json()["detail"]
    assert (await _send(api, Role.VIEWER, "GET", "/api/v1/signals")).status_code == 200


async def test_roles_ladder(api: Api) -> None:
    body = {"asset": ASSET, "signals": [{"name": "temp", "unit": "degC"}]}
    assert (
        await _send(api, Role.OPERATOR, "POST", "/api/v1/signals", json=body)
    ).status_code == 403
    assert (
        await _send(api, Role.ENGINEER, "POST", "/api/v1/signals", json=body)
    ).status_code == 200
    assert (await _send(api, Role.ENGINEER, "POST", "/api/v1/retention")).status_code == 403
    assert (await _send(api, Role.ADMIN, "POST", "/api/v1/retention")).status_code == 200


async def test_redefining_a_signal_needs_admin_and_is_audited(api: Api) -> None:
    await api.store.register_signals(ASSET, [Signal(name="temp", unit="degC")])
    body = {
        "asset": ASSET,
        "signals": [{"name": "temp", "unit": "degC", "valid_range": [0.0, 1.0]}],
    }
    same = {"asset": ASSET, "signals": [{"name": "temp", "unit": "degC"}]}
    assert (
        await _send(api, Role.ENGINEER, "POST", "/api/v1/signals", json=same)
    ).status_code == 200
    refused = await _send(api, Role.ENGINEER, "POST", "/api/v1/signals", json=body)
    assert refused.status_code == 403 and "redefines" in refused.json()["detail"]
    # the refused attempt is on record as refused, and nothing was redefined
    assert [(e["action"], e["who"]) for e in api.audit.entries()] == [("refused", "engineer")]
    done = await _send(api, Role.ADMIN, "POST", "/api/v1/signals", json=body)
    assert done.status_code == 200
    _, entry = api.audit.entries()
    assert entry["who"] == "admin" and entry["action"] == "redefine_signals"
    assert entry["from"] and entry["outcome"] == "ok" and entry["ts"].endswith("Z")
    assert entry["detail"]["signals"] == [f"{ASSET}/temp"]


async def test_retention_is_audited_and_refuses_a_future_now(api: Api) -> None:
    future = await _send(
        api, Role.ADMIN, "POST", "/api/v1/retention", params={"now_ns": 9 * 10**18}
    )
    assert future.status_code == 422 and "future" in future.text
    ok = await _send(api, Role.ADMIN, "POST", "/api/v1/retention", params={"now_ns": 10**18})
    assert ok.status_code == 200
    (entry,) = api.audit.entries()
    assert entry["action"] == "retention" and entry["detail"]["now_ns"] == 10**18
    assert stat.S_IMODE(api.audit.path.stat().st_mode) == 0o600


async def test_cross_site_text_plain_is_415(api: Api) -> None:
    for path in ("/api/v1/records", "/api/v1/signals", "/api/v1/retention"):
        response = await _send(
            api, Role.ADMIN, "POST", path, content=b"x", headers={"content-type": "text/plain"}
        )
        assert response.status_code == 415, path
        assert response.json()["error"] == "UnsupportedMediaType"
    form = await _send(
        api,
        Role.ADMIN,
        "POST",
        "/api/v1/retention",
        content=b"a=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415
    json_records = await _send(api, Role.ADMIN, "POST", "/api/v1/records", json=[])
    assert json_records.status_code == 415


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
async def test_foreign_host_is_400(api: Api, host: str) -> None:
    async with api.client(Role.ADMIN) as client:
        response = await client.get("/api/v1/signals", headers={"host": host})
    assert response.status_code == 400
    assert response.json()["error"] == "HostNotAllowed"


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "plant.example"])
async def test_allowed_hosts(api: Api, host: str) -> None:
    async with api.client(Role.VIEWER) as client:
        response = await client.get("/api/v1/signals", headers={"host": host})
    assert response.status_code == 200


async def test_oversized_body_by_length_is_413(api: Api) -> None:
    big = b"\0" * 1_000_001
    response = await _send(
        api,
        Role.ADMIN,
        "POST",
        "/api/v1/records",
        content=big,
        headers={"content-type": "application/vnd.apache.arrow.stream"},
    )
    assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge"
    items = [{"x": "y" * 1000}] * 101
    assert (
        await _send(api, Role.ADMIN, "POST", "/api/v1/dead-letters", json=items)
    ).status_code == 413


async def test_oversized_streamed_body_is_cut_off_at_the_limit(api: Api) -> None:
    """No Content-Length: the guard counts chunks and stops reading past the limit."""
    chunk = b"\0" * 100_000
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 1000}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/records",
        "raw_path": b"/api/v1/records",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/vnd.apache.arrow.stream"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", f"Bearer {api.secrets[Role.ADMIN]}".encode()),
        ],
    }
    await api.app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"] == "PayloadTooLarge"
    assert pulled <= 11  # 1 MB limit in 100 kB chunks: never the whole 100 MB


async def test_tokens_are_hashed_at_rest_with_mode_0600(tmp_path: Path) -> None:
    registry = TokenRegistry(tmp_path / "tokens.json")
    secret = registry.create("alice", Role.OPERATOR)
    text = (tmp_path / "tokens.json").read_text()
    assert secret not in text and "alice" in text
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600
    assert registry.authenticate(secret).role is Role.OPERATOR  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="exists already"):
        registry.create("alice", Role.VIEWER)
    with pytest.raises(ConfigError, match="token name"):
        registry.create("bad name", Role.VIEWER)
    registry.revoke("alice")
    assert registry.authenticate(secret) is None
    with pytest.raises(ConfigError, match="no token named 'alice'"):
        registry.revoke("alice")


async def test_revoked_token_is_refused_by_the_running_api(api: Api) -> None:
    assert (await _send(api, Role.VIEWER, "GET", "/api/v1/signals")).status_code == 200
    TokenRegistry(api.tokens.path).revoke("viewer")
    assert (await _send(api, Role.VIEWER, "GET", "/api/v1/signals")).status_code == 401


BIG = 2**64
TEMP = f"{ASSET}/temp"


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/api/v1/dead-letters", {"since_ns": BIG}, None),
        ("GET", "/api/v1/dead-letters/count", {"since_ns": BIG}, None),
        ("GET", "/api/v1/events", {"start_ns": 0, "end_ns": BIG}, None),
        ("GET", "/api/v1/scalars", {"signal": TEMP, "start_ns": 0, "end_ns": BIG}, None),
        (
            "GET",
            "/api/v1/scalars",
            {"signal": TEMP, "start_ns": 0, "end_ns": 9, "every_ns": BIG},
            None,
        ),
        ("GET", "/api/v1/count", {"signal": TEMP, "start_ns": BIG}, None),
        ("POST", "/api/v1/retention", {"now_ns": BIG}, None),
        ("POST", "/api/v1/signals", None, {"asset": "a/b", "signals": [{"name": "x"}]}),
        ("POST", "/api/v1/dead-letters", None, [{"source": "x"}]),
    ],
)
async def test_malformed_inputs_are_422_not_500(
    api: Api, method: str, path: str, params: Any, body: Any
) -> None:
    """Nanoseconds beyond int64 reached DuckDB, a bad asset path reached the store: 500."""
    await api.store.register_signals(ASSET, [Signal(name="temp", unit="degC")])
    kw: dict[str, Any] = {"params": params}
    if body is not None:
        kw["json"] = body
    response = await _send(api, Role.ADMIN, method, path, **kw)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "RequestInvalid"
