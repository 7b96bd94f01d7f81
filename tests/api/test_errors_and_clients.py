"""Errors by type over HTTP, events as JSON or Arrow, TLS rule, tokens CLI, platform token."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.cli.main import app as cli_app
from shopfloor.config.api import ApiConfig
from shopfloor.config.template import write_example_project
from shopfloor.errors import (
    HTTP_STATUS,
    AuthenticationRequired,
    PayloadTooLarge,
    PermissionDenied,
    ShopfloorError,
    StoreError,
    UnknownSignal,
    error_from_http,
    http_status,
)
from shopfloor.model import EventRecord, Provenance, ScalarBatch, Signal, SignalRef
from shopfloor.store import DuckDBStore
from shopfloor.store.remote import RemoteStore
from tests.api.conftest import ASSET, Api, served

T0 = 1_700_000_000 * 10**9


def test_every_error_class_round_trips_by_name() -> None:
    for cls in HTTP_STATUS:
        again = error_from_http(http_status(cls), cls.__name__, "detail")
        assert type(again) is cls and str(again) == "detail"
    assert http_status(UnknownSignal("x")) == 404
    assert isinstance(error_from_http(404, None, "route"), StoreError)
    assert not isinstance(error_from_http(404, None, "route"), UnknownSignal)


async def test_unknown_signal_is_404_by_type_not_by_message(api: Api) -> None:
    async with api.client(Role.VIEWER) as client:
        response = await client.get("/api/v1/count", params={"signal": f"{ASSET}/nope"})
    assert response.status_code == 404
    assert response.json() == {
        "error": "UnknownSignal",
        "detail": f"unknown signal '{ASSET}/nope'",
    }


async def test_a_store_error_mentioning_unknown_signal_is_not_404(api: Api) -> None:
    @api.app.get("/boom")
    async def boom() -> None:
        raise StoreError("unknown signal in the message, but not UnknownSignal")

    async with api.client(Role.VIEWER) as client:
        response = await client.get("/boom")
    assert response.status_code == 400 and response.json()["error"] == "StoreError"


async def test_events_are_json_by_default_and_arrow_on_request(api: Api) -> None:
    ref = SignalRef(ASSET, "alarm")
    await api.store.register_signals(ASSET, [Signal(name="alarm", kind="event")])
    await api.store.write([EventRecord(ref, 10**18, "alarm", Provenance("test"), message="hot")])
    params = {"start_ns": 0, "end_ns": 2 * 10**18}
    async with api.client(Role.VIEWER) as client:
        as_json = await client.get("/api/v1/events", params=params)
        as_arrow = await client.get(
            "/api/v1/events",
            params=params,
            headers={"accept": "application/vnd.apache.arrow.stream"},
        )
    assert as_json.headers["content-type"].startswith("application/json")
    (row,) = as_json.json()
    assert row["signal"] == "alarm" and row["message"] == "hot" and row["ts_ns"] == 10**18
    assert as_arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert pa.ipc.open_stream(pa.py_buffer(as_arrow.content)).read_all().num_rows == 1


@pytest.mark.integration
async def test_remote_store_raises_the_class_the_api_names(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    tokens = TokenRegistry()
    viewer = tokens.add("v", Role.VIEWER)
    try:
        async with served(store, ApiSecurity(tokens)) as url:
            anonymous = RemoteStore(url)
            with pytest.raises(AuthenticationRequired, match="needs a token"):
                await anonymous.open()
            await anonymous.close()
            remote = RemoteStore(url, token=viewer)
            await remote.open()
            try:
                with pytest.raises(UnknownSignal, match="nope"):
                    await remote.count(SignalRef(ASSET, "nope"))
                with pytest.raises(PermissionDenied, match="admin"):
                    await remote.apply_retention()
            finally:
                await remote.close()
    finally:
        await store.close()


@pytest.mark.integration
async def test_remote_store_splits_writes_under_the_body_limit(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    await store.register_signals(ASSET, [Signal(name="temp", unit="degC")])
    tokens = TokenRegistry()
    secret = tokens.add("op", Role.OPERATOR)
    ref = SignalRef(ASSET, "temp")
    batches = [
        ScalarBatch.of(
            ref, T0 + np.arange(i * 1000, (i + 1) * 1000), np.ones(1000), Provenance("t")
        )
        for i in range(40)
    ]
    try:
        async with served(store, ApiSecurity(tokens, max_body_bytes=200_000)) as url:
            whole = RemoteStore(url, token=secret, max_part_bytes=10**9)
            await whole.open()
            with pytest.raises(PayloadTooLarge):
                await whole.write(batches)
            await whole.close()
            remote = RemoteStore(url, token=secret, max_part_bytes=150_000)
            await remote.open()
            try:
                report = await remote.write(batches)
            finally:
                await remote.close()
        assert report.written == 40_000
    finally:
        await store.close()


def test_listening_beyond_loopback_needs_tls() -> None:
    with pytest.raises(ValueError, match=r"'0\.0\.0\.0' is reachable.*tls_certfile"):
        ApiConfig(host="0.0.0.0")
    with pytest.raises(ValueError, match="go together"):
        ApiConfig(tls_certfile=Path("c.pem"))
    assert ApiConfig(host="::1").host == "::1"
    assert ApiConfig(host="0.0.0.0", tls_certfile=Path("c"), tls_keyfile=Path("k")).tls


def test_validate_refuses_a_plain_http_api_beyond_loopback(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    target = write_example_project(folder)
    text = target.read_text()
    assert "\n  host: 127.0.0.1\n" in text
    target.write_text(text.replace("\n  host: 127.0.0.1\n", "\n  host: 0.0.0.0\n", 1))
    result = CliRunner().invoke(cli_app, ["validate", "-p", str(folder)])
    assert result.exit_code == 2, result.output
    assert "api" in result.output and "TLS" in result.output, result.output


def test_tokens_cli(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    write_example_project(folder)
    runner = CliRunner()
    made = runner.invoke(
        cli_app,
        ["tokens", "create", "--role", "operator", "--name", "line1", "-p", str(folder), "--json"],
    )
    assert made.exit_code == 0, made.output
    import json

    secret = json.loads(made.output)["token"]
    path = folder / ".shopfloor" / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and secret not in path.read_text()
    listed = runner.invoke(cli_app, ["tokens", "list", "-p", str(folder), "--json"])
    assert [t["name"] for t in json.loads(listed.output)] == ["line1"]
    bad = runner.invoke(cli_app, ["tokens", "create", "--role", "root", "-p", str(folder)])
    assert bad.exit_code == 2 and "not a role" in bad.output
    gone = runner.invoke(cli_app, ["tokens", "revoke", "line1", "-p", str(folder)])
    assert gone.exit_code == 0 and TokenRegistry(path).authenticate(secret) is None


async def test_platform_writes_its_own_token_for_the_cli(tmp_path: Path) -> None:
    from shopfloor.api.server import api_server_factory
    from shopfloor.config import load_project
    from shopfloor.node import Platform
    from shopfloor.node.access import open_project_store
    from shopfloor.node.lock import read_token

    folder = tmp_path / "plant"
    project = load_project(write_example_project(folder))
    async with Platform.from_project(project, api=api_server_factory(project, port=0)) as platform:
        token_file = project.state_dir / "platform.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert read_token(project.state_dir)
        store = await open_project_store(project)
        try:
            assert isinstance(store, RemoteStore)
            assert await store.signals()
        finally:
            await store.close()
        anonymous = RemoteStore(platform.api_url or "")
        with pytest.raises(ShopfloorError):
            await anonymous.open()
        await anonymous.close()
    assert not token_file.exists()


async def test_status_command_uses_the_platform_token(tmp_path: Path) -> None:
    import json

    from shopfloor.api.server import api_server_factory
    from shopfloor.config import load_project
    from shopfloor.node import Platform

    folder = tmp_path / "plant"
    project = load_project(write_example_project(folder))
    runner = CliRunner()
    async with Platform.from_project(project, api=api_server_factory(project, port=0)):
        ok = await asyncio.to_thread(
            runner.invoke, cli_app, ["status", "-p", str(folder), "--json"]
        )
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["platform"]["pid"]
        (project.state_dir / "platform.token").write_text("wrong\n")
        refused = await asyncio.to_thread(runner.invoke, cli_app, ["status", "-p", str(folder)])
        assert "API refused" in refused.output and "unknown or revoked" in refused.output


async def test_a_refused_token_closes_the_remote_store(tmp_path: Path) -> None:
    """open_project_store closed the client only on StoreUnavailable, leaking it on 401."""
    import gc
    import warnings

    from shopfloor.api.server import api_server_factory
    from shopfloor.config import load_project
    from shopfloor.node import Platform
    from shopfloor.node.access import open_project_store

    folder = tmp_path / "plant"
    project = load_project(write_example_project(folder))
    async with Platform.from_project(project, api=api_server_factory(project, port=0)):
        (project.state_dir / "platform.token").write_text("wrong\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(AuthenticationRequired, match="unknown or revoked"):
                await open_project_store(project)
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
