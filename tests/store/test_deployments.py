"""Deployments kept in the store with their audit log: embedded, and over the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.errors import PermissionDenied
from shopfloor.model.deployment import deploy, stop
from shopfloor.store import DuckDBStore
from shopfloor.store.protocol import DeploymentStore
from shopfloor.store.remote import RemoteStore
from tests.api.conftest import served

A = "acme/p1/area/line/cell/m1"
B = "acme/p1/area/line/cell/m2"


async def _exercise(store: DeploymentStore) -> None:
    assert isinstance(store, DeploymentStore)
    kw = {"name": "spindle", "model": "spindle", "mode": "active", "pipeline": "vib", "who": "ana"}
    d1, c1 = deploy(None, asset=A, version=1, at_ns=10, **kw)  # type: ignore[arg-type]
    assert c1 is not None
    await store.save_deployment(d1, c1)
    d2, c2 = deploy(d1, asset=A, version=2, at_ns=20, reason="better", **kw)  # type: ignore[arg-type]
    assert c2 is not None
    await store.save_deployment(d2, c2)
    other, c3 = deploy(None, asset=B, version=1, at_ns=30, **kw)  # type: ignore[arg-type]
    assert c3 is not None
    await store.save_deployment(other, c3)
    stopped, c4 = stop(other, who="bo", at_ns=40, reason="machine sold")
    await store.save_deployment(stopped, c4)
    found = await store.list_deployments()
    assert [(d.asset, d.ref, d.running) for d in found] == [
        (A, "spindle@2", True),
        (B, "spindle@1", False),
    ]
    assert found[0].previous == ("spindle@1",)
    log = await store.deployment_log(name="spindle")
    assert [c.action for c in log] == ["stop", "deploy", "swap", "deploy"]
    swap = log[2]
    assert (swap.from_ref, swap.to_ref, swap.reason, swap.at_ns) == (
        "spindle@1",
        "spindle@2",
        "better",
        20,
    )
    assert [c.action for c in await store.deployment_log(asset=A, limit=1)] == ["swap"]


async def test_embedded_store_keeps_deployments_and_their_log(tmp_path: Path) -> None:
    async with DuckDBStore(tmp_path / "store.duckdb") as store:
        await _exercise(store)
    async with DuckDBStore(tmp_path / "store.duckdb", read_only=True) as again:
        assert len(await again.list_deployments()) == 2


@pytest.mark.integration
async def test_remote_store_keeps_deployments_over_the_api(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    tokens = TokenRegistry()
    engineer = tokens.add("eng", Role.ENGINEER)
    viewer = tokens.add("view", Role.VIEWER)
    try:
        async with served(store, ApiSecurity(tokens)) as url:
            remote = RemoteStore(url, token=engineer)
            await remote.open()
            try:
                await _exercise(remote)
            finally:
                await remote.close()
            reader = RemoteStore(url, token=viewer)
            await reader.open()
            try:
                current = (await reader.list_deployments(asset=A))[0]
                _, change = stop(current, who="mallory", at_ns=50)
                with pytest.raises(PermissionDenied, match="engineer"):
                    await reader.save_deployment(current, change)
            finally:
                await reader.close()
        log = await store.deployment_log(asset=A)
        assert log[0].who == "ana (token eng)"  # who said it, and with which token
    finally:
        await store.close()
