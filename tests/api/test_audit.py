"""Refused requests are in the audit log: who, when, what, from where, status and reason."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shopfloor.api.audit import UNKNOWN_TOKEN
from shopfloor.api.tokens import Role
from shopfloor.model import Signal
from tests.api.conftest import ASSET, Api


async def _send(api: Api, role: Role | None, method: str, path: str, **kw: Any) -> Any:
    async with api.client(role) as client:
        if method == "POST":
            kw.setdefault("json", {})
        return await client.request(method, path, **kw)


def _refusals(api: Api) -> list[dict[str, Any]]:
    return [e for e in api.audit.entries() if e["action"] == "refused"]


async def test_a_viewer_writing_is_audited_as_refused(api: Api) -> None:
    response = await _send(api, Role.VIEWER, "POST", "/api/v1/retention")
    assert response.status_code == 403
    (entry,) = api.audit.entries()
    assert entry["action"] == "refused" and entry["outcome"] == "PermissionDenied"
    assert entry["who"] == "viewer" and entry["role"] == "viewer"
    assert entry["from"] == "127.0.0.1" and entry["ts"].endswith("Z")
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/api/v1/retention", 403)
    assert entry["reason"] == response.json()["detail"]
    assert "admin role" in entry["reason"]
    assert api.secrets[Role.VIEWER] not in api.audit.path.read_text()


async def test_an_unknown_or_revoked_token_is_audited_without_the_token(api: Api) -> None:
    guessed = "guessed-token-0123456789"
    bad = await _send(
        api, None, "GET", "/api/v1/signals", headers={"authorization": f"Bearer {guessed}"}
    )
    assert bad.status_code == 401
    api.tokens.revoke("operator")
    revoked = await _send(api, Role.OPERATOR, "POST", "/api/v1/dead-letters", json=[])
    assert revoked.status_code == 401
    first, second = _refusals(api)
    assert first["who"] == UNKNOWN_TOKEN and first["role"] is None
    assert (first["method"], first["path"], first["status"]) == ("GET", "/api/v1/signals", 401)
    assert first["outcome"] == "AuthenticationRequired" and "unknown or revoked" in first["reason"]
    assert second["who"] == UNKNOWN_TOKEN and second["path"] == "/api/v1/dead-letters"
    text = api.audit.path.read_text()
    assert guessed not in text and api.secrets[Role.OPERATOR] not in text


async def test_a_request_without_a_token_names_nobody_and_is_not_audited(api: Api) -> None:
    assert (await _send(api, None, "POST", "/api/v1/retention")).status_code == 401
    assert (await _send(api, None, "GET", "/healthz")).status_code == 200
    assert api.audit.entries() == []


async def test_allowed_requests_leave_no_refusal(api: Api) -> None:
    assert (await _send(api, Role.VIEWER, "GET", "/api/v1/signals")).status_code == 200
    assert (await _send(api, Role.ADMIN, "POST", "/api/v1/retention")).status_code == 200
    assert [e["action"] for e in api.audit.entries()] == ["retention"]


async def test_a_redefinition_refused_to_an_engineer_is_audited(api: Api) -> None:
    await api.store.register_signals(ASSET, [Signal(name="temp", unit="degC")])
    body = {"asset": ASSET, "signals": [{"name": "temp", "unit": "K"}]}
    refused = await _send(api, Role.ENGINEER, "POST", "/api/v1/signals", json=body)
    assert refused.status_code == 403
    (entry,) = api.audit.entries()
    assert entry["action"] == "refused" and entry["who"] == "engineer"
    assert entry["path"] == "/api/v1/signals" and "redefines" in entry["reason"]


async def test_every_refusal_is_kept(api: Api) -> None:
    for _ in range(30):
        assert (await _send(api, Role.VIEWER, "POST", "/api/v1/retention")).status_code == 403
    assert len(_refusals(api)) == 30


async def test_a_failing_audit_write_is_logged_and_the_refusal_answered(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api.audit.path.mkdir()  # appending to a folder fails
    with caplog.at_level(logging.ERROR, logger="shopfloor.api.security"):
        response = await _send(api, Role.VIEWER, "POST", "/api/v1/retention")
    assert response.status_code == 403
    assert any("audit.failed" in r.getMessage() for r in caplog.records)
