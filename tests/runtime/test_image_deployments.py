"""Image classifiers deploy like any model: per-image outputs, swaps, shadow, restart, failures.

Images are flat grey PNGs published on the in-process bus as a camera connector would
(``tests/runtime/image_models.py``: a bright one is ``good``, a dark one ``dented``, one
in between ``uncertain``), each with a part id. The deployment runtime classifies each
once, whatever happens to the deployment in between.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import shopfloor
from shopfloor.cli.main import app
from shopfloor.config import Project, load_project
from shopfloor.errors import DeploymentError, DeploymentRefused
from shopfloor.ml.base import MODEL_TYPES
from shopfloor.model import (
    NS_PER_S,
    ImageRecord,
    Provenance,
    SignalRef,
    now_ns,
    topic_for,
)
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.services import deployments as service
from shopfloor.store import DuckDBStore, Store
from tests.runtime.image_models import LEVELS, UNSURE, Brightness, image, register
from tests.runtime.test_deployments import health, until

CAM = "acme/p1/pack/line1/cell1/camera-1"
PRESS = "acme/p1/pack/line1/cell1/press-1"
STEP = NS_PER_S // 10

PROJECT = f"""
project: {{name: image-deploy-test}}
runtime: {{reconcile_s: 0.05}}
assets:
  - path: {CAM}
    signals:
      - {{name: camera, kind: image}}
  - path: {PRESS}
    signals:
      - {{name: force, unit: kN}}
alert_rules:
  - {{name: defect-rate, deployment: carton, kind: defect_rate, threshold: 0.5, window_n: 4,
     hysteresis: 0.2}}
"""


@pytest.fixture(autouse=True)
def brightness_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODEL_TYPES, Brightness.model_type, Brightness)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "factory.yaml").write_text(PROJECT)
    return load_project(tmp_path)


@pytest.fixture
async def platform(project: Project) -> AsyncIterator[Platform]:
    p = Platform.from_project(project, services=project_services(project))
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def part(ts: int, part_id: int, level: int | None, data: bytes | None = None) -> ImageRecord:
    return ImageRecord(
        SignalRef(CAM, "camera"),
        ts,
        image(level or 0) if data is None else data,
        "png",
        (8, 8, 1),
        Provenance("camera"),
        attributes={"part_id": str(part_id), "source_file": f"part-{part_id:06d}.png"},
    )


async def publish(platform: Platform, records: list[ImageRecord]) -> None:
    for r in records:
        await platform.bus.publish(topic_for(r.signal), r)
        await asyncio.sleep(0.005)


async def stored(store: Store, name: str) -> tuple[list[int], list[float]]:
    table = await store.read_scalars(SignalRef(CAM, name), 0, 2**62)
    return (
        table.column("ts").cast("int64").to_numpy().tolist(),
        table.column("value").to_numpy(zero_copy_only=False).tolist(),
    )


PATTERN = ["good", "good", "dented", "good", "unsure", "dented", "dented", "good"]


def parts(start: int, first_id: int, n: int) -> list[ImageRecord]:
    out = []
    for i in range(n):
        kind = PATTERN[(first_id + i) % len(PATTERN)]
        level = UNSURE if kind == "unsure" else LEVELS[kind]
        out.append(part(start + i * STEP, first_id + i, level))
    return out


def expected_state(record: ImageRecord) -> float:
    kind = PATTERN[int(record.attributes["part_id"]) % len(PATTERN)]
    return {"good": 0.0, "unsure": 1.0, "dented": 2.0}[kind]


async def test_classified_once_through_swap_shadow_and_restart(project: Project) -> None:
    register(project)
    register(project, sharpness=30.0)
    p = Platform.from_project(project, services=project_services(project))
    await p.start()
    store = p.store
    assert isinstance(store, DuckDBStore)
    key = f"carton on {CAM}"
    try:
        rows = await service.deploy(
            project, store, "carton@1", assets=[CAM], mode="active", name=None, who="t"
        )
        assert rows[0]["pipeline"] == "image:camera"
        await service.deploy(
            project, store, "carton@1", assets=[CAM], mode="shadow", name=None, who="t"
        )
        await until(lambda: len(health(p)["deployments"]) == 2, "both deployments run")
        first = parts(now_ns() + NS_PER_S, 1, 16)  # images taken after the deployments
        await publish(p, first)
        await until(lambda: health(p)["deployments"][key]["windows"] >= 16, "first images")
        # a swap while images stream: images keep coming until the new version has taken
        # over, and ten more after
        published = list(first)

        async def stream() -> None:
            after_swap = 0
            while after_swap < 10:
                (record,) = parts(published[-1].ts_ns + STEP, len(published) + 1, 1)
                await publish(p, [record])
                published.append(record)
                await asyncio.sleep(0.01)
                after_swap += 1 if health(p)["swaps"] == 1 else 0

        streaming = asyncio.create_task(stream())
        await until(lambda: len(published) >= 20, "streaming")
        swapped = await service.deploy(
            project, store, "carton@2", assets=[CAM], mode="active", name=None, who="t"
        )
        assert swapped[0]["change"]["action"] == "swap"
        await streaming
        n = len(published)

        async def all_stored() -> bool:
            ts, _ = await stored(store, "carton.state")
            shadow, _ = await stored(store, "carton-shadow.state")
            return len(ts) >= n and len(shadow) >= n

        await until(all_stored, "every image's outputs stored")
        ts, states = await stored(store, "carton.state")
        assert ts == [r.ts_ns for r in published]  # each once, none skipped at the swap
        assert states == [expected_state(r) for r in published]
        _, classes = await stored(store, "carton.class")
        assert set(classes) == {-1.0, 0.0, 1.0}  # uncertain, dented, good
        _, confidence = await stored(store, "carton.confidence")
        assert all(0.0 <= c <= 1.0 for c in confidence)
        _, latency = await stored(store, "carton.latency_ms")
        assert all(v > 0 for v in latency)
        events = await store.read_events(0, 2**62, ref=SignalRef(CAM, "carton.events"))
        classified = [e for e in events if e.kind == "classified"]
        assert [e.attributes["part_id"] for e in classified] == [
            r.attributes["part_id"] for r in published
        ]
        assert {e.attributes["outcome"] for e in classified} == {"good", "defective", "uncertain"}
        assert [e.kind for e in events].count("deployed") == 1  # the swap, at its first image
        assert {e.provenance.address for e in classified} == {"carton@1", "carton@2"}
        shadow_events = await store.read_events(
            0, 2**62, ref=SignalRef(CAM, "carton-shadow.events")
        )
        assert {e.provenance.connector for e in shadow_events} == {"shadow:carton-shadow"}
        # two defects in four parts: the defect-rate rule raised on the active deployment
        # (and resolved once the share fell below 30 %: the pattern goes up and down)
        alerts = await until(store.list_alerts, "the defect-rate alert")
        assert {(a.rule, a.asset) for a in alerts} == {("defect-rate", CAM)}
        counts = health(p)["deployments"][key]["images"]
        assert counts["failed"] == 0 and counts["uncertain"] >= 1
    finally:
        await p.stop()
    # images stored while the platform is down are classified when it starts again
    later = parts(published[-1].ts_ns + STEP, n + 1, 8)
    async with DuckDBStore(project.store_path) as down:
        await down.write(later)
    p = Platform.from_project(project, services=project_services(project))
    await p.start()
    try:
        store = p.store
        assert isinstance(store, DuckDBStore)

        async def caught_up() -> bool:
            return len((await stored(store, "carton.state"))[0]) >= n + 8

        await until(caught_up, "the images missed while down")
        await asyncio.sleep(0.2)
        ts, _ = await stored(store, "carton.state")
        assert ts == [r.ts_ns for r in [*published, *later]]
        # and a rollback goes back to version 1 on the same images, as for any model
        back = await service.rollback(project, store, CAM, name="carton", who="t", reason="r")
        assert (back["ref"], back["change"]["action"]) == ("carton@1", "rollback")
        await until(lambda: health(p)["deployments"][key]["model"] == "carton@1", "rolled back")
        log = await store.deployment_log(name="carton")
        assert [c.action for c in reversed(log)] == ["deploy", "swap", "rollback"]
    finally:
        await p.stop()


async def test_refused_where_there_is_no_image_signal(project: Project) -> None:
    register(project)
    async with DuckDBStore(project.store_path) as store:
        with pytest.raises(DeploymentRefused, match="no image signal"):
            await service.deploy(
                project, store, "carton@1", assets=[PRESS], mode="active", name=None, who="t"
            )
        with pytest.raises(DeploymentError, match="name the asset"):
            await service.deploy(
                project, store, "carton@1", assets=[], mode="active", name=None, who="t"
            )
        assert await store.list_deployments() == []


async def test_a_bad_image_or_model_error_is_dead_lettered(
    project: Project, platform: Platform
) -> None:
    store = platform.store
    assert isinstance(store, DuckDBStore)
    register(project, fail_above=0.9)  # a model that fails on very bright images
    await service.deploy(
        project, store, "carton@1", assets=[CAM], mode="active", name=None, who="t"
    )
    key = f"carton on {CAM}"
    await until(lambda: key in health(platform)["deployments"], "the deployment runs")
    t0 = now_ns() + NS_PER_S
    records = [
        part(t0, 1, LEVELS["good"]),
        part(t0 + STEP, 2, None, data=b"not an image at all"),
        part(t0 + 2 * STEP, 3, 250),  # the model raises on it
        part(t0 + 3 * STEP, 4, LEVELS["dented"]),
    ]
    await publish(platform, records)

    async def four() -> bool:
        return len((await stored(store, "carton.state"))[0]) >= 4

    await until(four, "all four stored")
    ts, states = await stored(store, "carton.state")
    assert ts == [r.ts_ns for r in records]
    assert states[0] == 0.0 and states[3] == 2.0
    assert np.isnan(states[1]) and np.isnan(states[2])
    h = health(platform)
    assert h["state"] == "degraded" and "brighter than" in h["last_error"]
    assert h["deployments"][key]["images"]["failed"] == 2
    letters = await until(
        lambda: store.read_dead_letters(source="deployment:carton"), "the dead letters"
    )
    assert {d.detail["category"] for d in letters} == {"not_an_image", "deployment_error"}
    assert {d.detail["part_id"] for d in letters} == {"2", "3"}
    # the platform runs on: the next image is classified
    await publish(platform, [part(t0 + 4 * STEP, 5, LEVELS["good"])])
    await until(lambda: health(platform)["deployments"][key]["windows"] >= 5, "the next one")
    status = await platform.status()
    assert status["services"]["deployments"]["deployments"][key]["images"]["good"] == 2


def test_the_cli_deploys_an_image_model_like_any_other(project: Project) -> None:
    register(project)
    runner = CliRunner()
    p = ["-p", str(project.root)]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, *p])
        assert result.exit_code == code, result.output
        return result.output

    rows = json.loads(run("deploy", "carton@1", "--asset", CAM, "--mode", "active", "--json"))
    assert (rows[0]["name"], rows[0]["pipeline"]) == ("carton", "image:camera")
    listed = json.loads(run("deployments", "list", "--json"))
    assert [(r["name"], r["ref"], r["last_window"]) for r in listed] == [
        ("carton", "carton@1", None)
    ]
    assert "name the asset" in run("deploy", "carton@1", "--name", "other", code=1)
    assert "no image signal" in run("deploy", "carton@1", "--asset", PRESS, code=1)


@pytest.mark.slow
def test_kill_9_then_restart_classifies_every_stored_image_once(project: Project) -> None:
    """The platform is killed with SIGKILL while it classifies, then started again: every
    image the store holds from the deployment on has exactly one state, class and event.

    The model takes 30 ms an image and images come every 10 ms: a backlog of stored images
    waits to be classified when the process is killed, and the restart classifies it.
    """
    register(project, sleep_s=0.03)

    async def prepare() -> int:
        async with DuckDBStore(project.store_path) as store:
            rows = await service.deploy(
                project, store, "carton@1", assets=[CAM], mode="active", name=None, who="t"
            )
        return int(rows[0]["changed_ns"])

    deployed_ns = asyncio.run(prepare())
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{Path(shopfloor.__file__).parents[1]}:{root}"}

    def start(mode: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "tests.runtime.image_feeder", str(project.root), mode]
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root
        )

    feeder = start("feed")
    try:
        assert feeder.stdout is not None
        for line in feeder.stdout:
            if line.startswith("images ") and int(line.split()[1]) >= 40:
                break
        else:
            pytest.fail("the platform stopped before it classified 40 images")
        os.kill(feeder.pid, signal.SIGKILL)
    finally:
        feeder.kill()
        feeder.communicate(timeout=30)
    resumed = start("resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0 and "resumed" in out, (out, err[-3000:])
    assert int(out.split()[1]) > 0  # images classified after the restart: the backlog

    async def check() -> None:
        async with DuckDBStore(project.store_path, read_only=True) as store:
            images = await store.read_images(SignalRef(CAM, "camera"), deployed_ns, 2**62)
            expected = [i.ts_ns for i in images]
            assert len(expected) >= 30
            for output in ("class", "confidence", "latency_ms", "state"):
                ts, _ = await stored(store, f"carton.{output}")
                assert ts == expected, output
            events = await store.read_events(0, 2**62, ref=SignalRef(CAM, "carton.events"))
            assert [e.ts_ns for e in events if e.kind == "classified"] == expected
            assert await store.count_dead_letters() == 0

    asyncio.run(check())


async def test_the_project_file_deploys_an_image_model_at_start(tmp_path: Path) -> None:
    text = (
        PROJECT
        + f"deployments:\n  - {{name: carton, model: carton, mode: active, assets: [{CAM}]}}\n"
    )
    (tmp_path / "factory.yaml").write_text(text)
    project = load_project(tmp_path)
    register(project)
    p = Platform.from_project(project, services=project_services(project))
    await p.start()
    try:
        running = health(p)["deployments"]
        assert running[f"carton on {CAM}"]["pipeline"] == "image:camera"
        assert p.store is not None
        log = await p.store.deployment_log(name="carton")  # type: ignore[attr-defined]
        assert [(c.action, c.who) for c in log] == [("deploy", "factory.yaml")]
    finally:
        await p.stop()
