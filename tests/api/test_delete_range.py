"""Deleting a range of a signal over the API, and re-scoring a pipeline through it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shopfloor.api.security import ApiSecurity
from shopfloor.api.server import api_server_factory
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.config import load_project
from shopfloor.errors import PermissionDenied, PipelineError, RequestInvalid, UnknownSignal
from shopfloor.model import Provenance, ScalarBatch, Signal, SignalRef, format_ns
from shopfloor.node import Platform
from shopfloor.node.access import open_project_store
from shopfloor.node.pipelines import project_pipeline
from shopfloor.pipelines import run_history
from shopfloor.services.options import HistoryOptions
from shopfloor.services.pipelines import fit_baseline, run_over_history
from shopfloor.store import DeletingStore, DuckDBStore
from shopfloor.store.remote import RemoteStore
from tests.api.conftest import ASSET, Api, served
from tests.pipelines.data import ASSET as MACHINE
from tests.pipelines.data import START, machine_data

S = 10**9
T0 = 1_700_000_000 * S
TEMP = SignalRef(ASSET, "temp")


async def _fill(store: DuckDBStore) -> None:
    await store.register_signals(ASSET, [Signal(name="temp", unit="degC")])
    await store.write(
        [ScalarBatch.of(TEMP, [T0, T0 + S, T0 + 2 * S], [1.0, 2.0, 3.0], Provenance("t"))]
    )


def _range(start_ns: int, end_ns: int, signal: str = TEMP.path) -> dict[str, Any]:
    return {"signal": signal, "start_ns": start_ns, "end_ns": end_ns}


async def test_an_engineer_deletes_a_range_and_it_is_audited(api: Api) -> None:
    await _fill(api.store)
    async with api.client(Role.ENGINEER) as client:
        response = await client.delete("/api/v1/values", params=_range(T0 + S, T0 + 3 * S))
    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert await api.store.count(TEMP) == 1
    (entry,) = api.audit.entries()
    assert entry["action"] == "delete_range" and entry["outcome"] == "ok"
    assert entry["who"] == "engineer" and entry["from"] == "127.0.0.1"
    assert entry["detail"] == {
        "signal": TEMP.path,
        "start_ns": T0 + S,
        "end_ns": T0 + 3 * S,
        "result": 2,
    }


async def test_an_operator_may_not_delete(api: Api) -> None:
    await _fill(api.store)
    async with api.client(Role.OPERATOR) as client:
        response = await client.delete("/api/v1/values", params=_range(T0, T0 + 3 * S))
    assert response.status_code == 403 and response.json()["error"] == "PermissionDenied"
    assert await api.store.count(TEMP) == 3
    (entry,) = api.audit.entries()
    assert entry["action"] == "refused" and entry["path"] == "/api/v1/values"


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        (_range(T0 + S, T0), 422, "RequestInvalid"),  # reversed
        (_range(T0, T0), 422, "RequestInvalid"),  # empty
        (_range(T0, 2**64), 422, "RequestInvalid"),  # beyond int64
        (_range(T0, T0 + S, signal="no-asset"), 422, "RequestInvalid"),
        (_range(T0, T0 + S, signal=f"{ASSET}/nope"), 404, "UnknownSignal"),
    ],
)
async def test_a_bad_range_or_signal_is_a_clear_4xx(
    api: Api, params: dict[str, Any], status: int, error: str
) -> None:
    await _fill(api.store)
    async with api.client(Role.ADMIN) as client:
        response = await client.delete("/api/v1/values", params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert await api.store.count(TEMP) == 3


async def test_an_unknown_signal_is_audited_as_failed(api: Api) -> None:
    async with api.client(Role.ADMIN) as client:
        response = await client.delete("/api/v1/values", params=_range(T0, T0 + S, f"{ASSET}/x"))
    assert response.status_code == 404
    (entry,) = api.audit.entries()
    assert entry["action"] == "delete_range" and entry["outcome"].startswith(
        "failed: UnknownSignal"
    )


@pytest.mark.integration
async def test_remote_store_deletes_a_range(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    await _fill(store)
    tokens = TokenRegistry()
    engineer = tokens.add("eng", Role.ENGINEER)
    viewer = tokens.add("view", Role.VIEWER)
    try:
        async with served(store, ApiSecurity(tokens)) as url:
            remote = RemoteStore(url, token=engineer)
            await remote.open()
            try:
                assert isinstance(remote, DeletingStore)
                assert await remote.delete_range(TEMP, T0, T0 + S) == 1
                with pytest.raises(UnknownSignal, match="nope"):
                    await remote.delete_range(SignalRef(ASSET, "nope"), T0, T0 + S)
                with pytest.raises(RequestInvalid):  # reversed: the API's 422, by its type
                    await remote.delete_range(TEMP, T0 + S, T0)
            finally:
                await remote.close()
            reader = RemoteStore(url, token=viewer)
            await reader.open()
            try:
                with pytest.raises(PermissionDenied, match="engineer"):
                    await reader.delete_range(TEMP, T0, T0 + 3 * S)
            finally:
                await reader.close()
        assert await store.count(TEMP) == 2
    finally:
        await store.close()


PROJECT = f"""
project: {{name: rescore-plant}}
assets:
  - path: {MACHINE}
    signals:
      - {{name: spindle_accel, kind: waveform, unit: g, sample_rate_hz: 25600,
          channels: [x, y, z]}}
      - {{name: spindle_speed, unit: rpm}}
pipelines:
  - name: spindle-health
    asset: {MACHINE}
    sources: [spindle_accel]
    context: [spindle_speed]
    window: {{length_s: 1.0}}
    steps:
      - features: {{features: [rms, kurtosis]}}
      - scaler: {{method: robust}}
      - model: {{type: zscore}}
    outputs:
      - store: {{prefix: "health.", columns: [anomaly_score]}}
"""


@pytest.mark.integration
async def test_rescore_through_the_running_platform_api(tmp_path: Path) -> None:
    """``pipelines run --rescore`` while the platform runs: old outputs go over HTTP."""
    folder = tmp_path / "plant"
    folder.mkdir()
    (folder / "factory.yaml").write_text(PROJECT)
    project = load_project(folder)
    blocks, scalars = machine_data(30.0, fault="outer_race", onset_s=15.0)
    async with DuckDBStore(project.store_path) as store:
        for asset in project.config.assets:
            await store.register_signals(asset.path, asset.signals)
        await store.write([*blocks, *scalars])
    at = lambda s: START + s * S  # noqa: E731

    def span(first_s: int, end_s: int) -> HistoryOptions:
        return HistoryOptions("spindle-health", format_ns(at(first_s)), format_ns(at(end_s)))

    async with Platform.from_project(project, api=api_server_factory(project, port=0)):
        remote = await open_project_store(project)
        assert isinstance(remote, RemoteStore)
        await remote.close()
        await fit_baseline(span(0, 20), project)
        first = await run_over_history(span(0, 30), project)
        assert first["values_written"] > 0 and first["conflicts"] == 0
        await fit_baseline(span(5, 15), project)  # another baseline
        stale = await run_over_history(span(0, 30), project)
        assert stale["values_written"] == 0 and stale["conflicts"] > 0
        again = await run_over_history(span(0, 30), project, rescore=True)
        assert again["rescored"] is True and again["conflicts"] == 0
        assert again["replaced"] == first["values_written"]
        assert again["values_written"] == again["windows"]
        assert again["fit_version"] != first["fit_version"]
        # a reversed range is refused before anything is deleted, as on the embedded store
        pipeline, plan = project_pipeline(project, "spindle-health")
        remote = await open_project_store(project)
        try:
            with pytest.raises(PipelineError, match="empty time range"):
                await run_history(remote, pipeline, plan, at(30), at(0), rescore=True)
            output = SignalRef(MACHINE, "health.anomaly_score")
            assert await remote.count(output, at(0), at(30)) == again["values_written"]
        finally:
            await remote.close()
    entries = [
        e
        for e in await asyncio.to_thread(_audit_entries, project.state_dir)
        if e["action"] == "delete_range"
    ]
    assert [e["who"] for e in entries] == ["platform"]
    assert entries[0]["detail"]["result"] == again["replaced"]


def _audit_entries(state: Path) -> list[dict[str, Any]]:
    from shopfloor.api.audit import AUDIT_NAME, AuditLog

    return AuditLog(state / AUDIT_NAME).entries()
