"""Deployments on the in-process bus: train, deploy, stream, swap, shadow, restart, tamper.

A 1 kHz accelerometer in 100 ms blocks (one window each): 120 s of healthy history are
stored, a model is trained on it (``services.models.train_model``) and deployed; then
blocks are published live, stamped from now on, as a connector would.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shopfloor.config import Project, load_project
from shopfloor.errors import DeploymentRefused
from shopfloor.model import (
    NS_PER_S,
    Provenance,
    SignalRef,
    WaveformBlock,
    format_ns,
    now_ns,
    topic_for,
)
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.services import deployments as service
from shopfloor.services.models import model_registry, train_model
from shopfloor.services.options import TrainOptions
from shopfloor.store import DuckDBStore
from shopfloor.store.protocol import AlertStore

M1 = "acme/p1/area/line/cell/m1"
M2 = "acme/p1/area/line/cell/m2"
M3 = "acme/p1/area/line/cell/m3"
HOP = NS_PER_S // 10
RATE = 1000.0

PROJECT = f"""
project: {{name: deploy-test}}
runtime: {{reconcile_s: 0.05, scoring_workers: 2}}
assets:
  - path: {M1}
    signals:
      - {{name: vib, kind: waveform, unit: g, sample_rate_hz: 1000}}
  - path: {M2}
    signals:
      - {{name: vib, kind: waveform, unit: g, sample_rate_hz: 1000}}
  - path: {M3}
    signals:
      - {{name: vib, kind: waveform, unit: m/s^2, sample_rate_hz: 1000}}
pipelines:
  - name: vib-features
    asset: {M1}
    sources: [vib]
    window: {{length_s: 0.1}}
    steps:
      - features: {{features: [rms, kurtosis, crest_factor]}}
alert_rules:
  - {{name: active-any, deployment: vib, output: score, threshold: -1.0e9}}
  - {{name: shadow-any, deployment: vib-shadow, output: score, threshold: -1.0e9}}
  - {{name: shadow-direct, signal: {M1}/vib-shadow.score, threshold: -1.0e9}}
"""


def block(asset: str, t0: int, amplitude: float = 1.0, seed: int = 0) -> WaveformBlock:
    rng = np.random.default_rng(seed + t0 // HOP)
    return WaveformBlock(
        SignalRef(asset, "vib"), t0, RATE, amplitude * rng.normal(size=100), "g", Provenance("t")
    )


def grid(start: int, n: int) -> list[int]:
    return [start + i * HOP for i in range(n)]


@dataclass
class Plant:
    folder: Path
    project: Project
    history_start: int
    refs: dict[str, str] = field(default_factory=dict)


def new_plant(folder: Path, seconds: int, assets: tuple[str, ...], versions: int) -> Plant:
    """A project with ``seconds`` of healthy history of ``assets`` and ``versions`` of ``vib``.

    The history ends at least 80 s before now; the model is trained on all of it.
    """
    folder.mkdir()
    (folder / "factory.yaml").write_text(PROJECT)
    project = load_project(folder)
    start = (now_ns() // NS_PER_S - seconds - 80) * NS_PER_S

    async def fill() -> None:
        async with DuckDBStore(project.store_path) as store:
            for asset in project.config.assets:
                await store.register_signals(asset.path, asset.signals)
            for asset in assets:
                await store.write([block(asset, t) for t in grid(start, seconds * 10)])

    asyncio.run(fill())
    options = TrainOptions(
        name="vib",
        pipeline="vib-features",
        from_=format_ns(start),
        to=format_ns(start + seconds * NS_PER_S),
    )
    plant = Plant(folder, project, start)
    for _ in range(versions):
        card = asyncio.run(train_model(options, project, who="test"))
        plant.refs[str(card["version"])] = f"vib@{card['version']}"
    return plant


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Plant:
    """Two model versions trained on 120 s of healthy history of m1 and m2."""
    return new_plant(tmp_path_factory.mktemp("deploy") / "plant", 120, (M1, M2), 2)


@pytest.fixture
async def platform(plant: Plant) -> AsyncIterator[Platform]:
    p = Platform.from_project(plant.project, services=project_services(plant.project))
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def until(check: Callable[[], object], what: str, timeout_s: float = 30.0) -> Any:
    """Wait for ``check()`` (or its awaited result) to be true; return it; fail naming ``what``."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                result = check()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return result
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"waited in vain for: {what}") from None


async def stored(store: DuckDBStore, asset: str, signal: str) -> list[int]:
    table = await store.read_scalars(SignalRef(asset, signal), 0, 2**62)
    return table.column("ts").cast("int64").to_numpy().tolist()


def health(platform: Platform) -> dict[str, object]:
    for s in platform.services:
        if s.name == "deployments":
            return s.health()
    raise AssertionError("no deployment runtime in the platform")


async def publish(platform: Platform, asset: str, starts: list[int], **kw: float) -> None:
    for t in starts:
        b = block(asset, t, **kw)  # type: ignore[arg-type]
        await platform.bus.publish(topic_for(b.signal), b)
        await asyncio.sleep(0)


async def test_deploy_stream_swap_shadow_restart(plant: Plant) -> None:
    project = plant.project
    live0 = (now_ns() // NS_PER_S + 2) * NS_PER_S
    first = grid(live0, 20)
    p = Platform.from_project(project, services=project_services(project))
    await p.start()
    store = p.store
    assert isinstance(store, DuckDBStore)
    deployments = f"vib on {M1}", f"vib-shadow on {M1}"

    def windows_of(key: str) -> int:
        return int(health(p)["deployments"][key]["windows"])  # type: ignore[index]

    try:
        await service.deploy(project, store, "vib@1", assets=[], mode="active", name=None, who="t")
        await service.deploy(project, store, "vib@2", assets=[], mode="shadow", name=None, who="t")
        await until(lambda: set(deployments) <= set(health(p)["deployments"]), "both run")  # type: ignore[arg-type]
        await publish(p, M1, first)
        await until(lambda: windows_of(deployments[0]) >= 20, "first windows scored")
        # the swap while data streams: blocks keep coming until the new version has taken
        # over, and ten more after
        published = list(first)

        async def stream() -> None:
            after_swap = 0
            while after_swap < 10:
                t = published[-1] + HOP
                await publish(p, M1, [t])
                published.append(t)
                await asyncio.sleep(0.01)
                after_swap += 1 if health(p)["swaps"] == 1 else 0

        streaming = asyncio.create_task(stream())
        await until(lambda: len(published) >= 25, "streaming")
        rows = await service.deploy(
            project, store, "vib@2", assets=[], mode="active", name=None, who="t", reason="v2"
        )
        assert rows[0]["change"]["action"] == "swap"
        await streaming
        windows = list(published)
        n = len(windows)

        async def all_stored() -> bool:
            return (
                len(await stored(store, M1, "vib.state")) >= n
                and len(await stored(store, M1, "vib-shadow.state")) >= n
            )

        await until(all_stored, "scores stored")
        assert isinstance(store, AlertStore)
        alerts = await store.list_alerts()
        assert {a.rule for a in alerts} == {"active-any"}  # the shadow's rules stayed silent
        engine = next(s for s in p.services if s.name == "alerts").health()
        assert "shadow mode" in engine["waiting"]["shadow-any"]
        assert engine["shadow_values_skipped"] > 0
    finally:
        await p.stop()
    async with DuckDBStore(project.store_path) as store:
        for name in ("vib", "vib-shadow"):
            for output in ("score", "health_index", "state"):
                assert await stored(store, M1, f"{name}.{output}") == windows, (name, output)
        events = await store.read_events(0, 2**62, ref=SignalRef(M1, "vib.events"))
        deployed = [e for e in events if e.kind == "deployed"]
        assert len(deployed) == 1 and deployed[0].attributes["to"] == "vib@2"
        assert deployed[0].ts_ns in windows[21:]  # between two windows, mid-stream
        # while the platform is down, more data reaches the store (a backfill)
        after = grid(windows[-1] + HOP, 15)
        await store.write([block(M1, t) for t in after])
    p = Platform.from_project(project, services=project_services(project))
    await p.start()
    try:
        await until(
            lambda: health(p)["deployments"].get(f"vib on {M1}", {}).get("windows", 0) >= 15,  # type: ignore[attr-defined]
            "missed windows scored from history",
        )
    finally:
        await p.stop()
    async with DuckDBStore(project.store_path) as store:
        assert await stored(store, M1, "vib.score") == windows + after
        assert await stored(store, M1, "vib-shadow.score") == windows + after
        log = await store.deployment_log(asset=M1)
        assert [c.action for c in log][:1] == ["swap"]


async def test_rollback_and_a_second_asset(plant: Plant, platform: Platform) -> None:
    project = plant.project
    store = platform.store
    for ref in ("vib@1", "vib@2"):
        await service.deploy(project, store, ref, assets=[M2], mode="active", name="m2", who="t")
    row = await service.rollback(project, store, M2, name=None, who="ana", reason="noisy")
    assert (row["ref"], row["change"]["from_ref"], row["change"]["who"]) == (
        "vib@1",
        "vib@2",
        "ana",
    )
    await until(
        lambda: health(platform)["deployments"].get(f"m2 on {M2}", {}).get("model") == "vib@1",  # type: ignore[attr-defined]
        "rolled back",
    )
    live0 = (now_ns() // NS_PER_S + 2) * NS_PER_S
    await publish(platform, M2, grid(live0, 5))
    await until(
        lambda: health(platform)["deployments"][f"m2 on {M2}"]["windows"] >= 5,
        "m2 scores",  # type: ignore[index]
    )
    shown = await service.show_deployment(store, "m2")
    assert [c["action"] for c in shown["log"]] == ["rollback", "swap", "deploy"]
    await service.stop(store, "m2", asset=None, who="t")
    await until(lambda: f"m2 on {M2}" not in health(platform)["deployments"], "stopped")  # type: ignore[operator]


async def test_refusals_name_what_differs(plant: Plant) -> None:
    project = plant.project
    async with DuckDBStore(project.store_path) as store:
        with pytest.raises(DeploymentRefused, match=r"units.*'g'.*'m/s\^2'|unit"):
            await service.deploy(
                project, store, "vib@1", assets=[M3], mode="shadow", name=None, who="t"
            )
        card = await train_model(
            TrainOptions(
                name="tampered",
                pipeline="vib-features",
                from_=format_ns(plant.history_start),
                to=format_ns(plant.history_start + 60 * NS_PER_S),
            ),
            project,
            who="test",
        )
        version = model_registry(project).get(f"tampered@{card['version']}")
        path = version.path / "artifact.zip"
        path.write_bytes(path.read_bytes() + b"\0")
        with pytest.raises(DeploymentRefused, match="SHA-256"):
            await service.deploy(
                project, store, "tampered@1", assets=[], mode="active", name=None, who="t"
            )
        assert await store.list_deployments(name="tampered") == []  # nothing written
