"""End to end on loopback: CNC simulator → platform → trained model → deployed → alarm → machine.

Real servers only: the CNC simulator (OPC UA), a mosquitto broker, an SMTP server
(aiosmtpd) and an HTTP receiver for the webhook. The project is the demo's
(:func:`shopfloor.services.demo.demo_project_text`: the rule ``spindle-alarm`` on the
active deployment's state, writing the simulator's alarm nodes) with the three notifiers.

1. The platform runs in this process: it stores the healthy period, ``spindle`` is
   trained on it twice (versions 1 and 2, ``services.models.train_model``), version 1 is
   deployed active, and once it scores live windows version 2 is deployed over it (a swap
   while the data streams). Every score the runtime publishes is collected from the bus.
   The fault grows; the alarm must come after the onset (no alert and no alarm state
   before it) and within ``DUE_S`` of it; the alarm node is read back ``True`` by the
   test; one webhook, one MQTT message and one email tell of it. Each window is scored
   exactly once: the published window starts are unique and are exactly the windows the
   pipeline cuts from the stored data (computed again from history), with no hole at the
   swap.
2. The deployment is stopped while the data go on being stored (a backlog), deployed
   again, and ``shopfloor run`` takes over in a subprocess: it scores the backlog from
   stored history and is killed with SIGKILL while it does, leaving stored windows
   unscored. Started again, once it has caught up, the simulator stops and the platform
   is stopped cleanly. The stored scores are then exactly the windows of the stored data
   from the deployment on (no hole: those the kill left unscored among them), and the
   restarted process scored exactly those after the last score that survived the kill
   (none twice).

How "expected" is derived: the defect grows exponentially from severity 0.05 at the onset
to 1 after ``GROWTH_S``; at full severity its impacts dominate the envelope band, far
above the alarm threshold calibrated on the healthy windows (the demo's health trend
shows it crossing at about a third of the growth). The alarm state then needs 3 of 5
windows at or above the threshold, and windows are cut only while the spindle cuts (a
pause between operations of up to ``PAUSE_S``). So the alarm is due by the end of the
growth, plus five windows, plus one pause, plus a few seconds for the store and the
alert engine: a generous bound, not a measurement.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import numpy as np
import pytest
from asyncua import Client

import shopfloor
from shopfloor.bus import Subscription
from shopfloor.config import Project, load_project
from shopfloor.model import NS_PER_S, Alert, ScalarBatch, SignalRef, format_ns, topic_for
from shopfloor.node import Platform
from shopfloor.node.lock import read_lock, read_token
from shopfloor.node.pipelines import project_pipeline
from shopfloor.node.services import project_services
from shopfloor.pipelines import read_features
from shopfloor.services.demo import (
    ASSET,
    MODEL,
    PIPELINE,
    RULE,
    baseline_training,
    demo_project_text,
)
from shopfloor.services.deployments import deploy, stop
from shopfloor.services.models import train_model
from shopfloor.sim.cnc import CncSimConfig, CncSimServer
from shopfloor.store import DuckDBStore, Store
from shopfloor.store.protocol import AlertStore
from tests.receivers import Mailbox, Receiver
from tests.runtime.test_deployments import until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # asyncua's client
]

TIME_SCALE = 8.0  # machine seconds per second
BASELINE_S = 150.0  # machine seconds of healthy running the model is trained on
ONSET_S = 330.0  # after training, deployment and the swap (about 40 s of wall time)
GROWTH_S = 60.0
HOP_S = 1.0  # the pipeline's windows: 1 s, back to back
PAUSE_S = 2.0 + 2 * 2.0  # idle and two tool changes: no window is cut there
DUE_S = GROWTH_S + 5 * HOP_S + PAUSE_S + 5.0
BACKLOG_S = 80.0  # machine seconds stored while the deployment is stopped
SCORE = SignalRef(ASSET, f"{MODEL}.score")
STATE = SignalRef(ASSET, f"{MODEL}.state")
ROOT = Path(__file__).parents[2]


def notifiers(webhook_url: str, mqtt_port: int, smtp_port: int) -> str:
    return json.dumps(
        [
            {"name": "ops", "type": "webhook", "url": webhook_url},
            {"name": "uns", "type": "mqtt", "port": mqtt_port},
            {
                "name": "maintenance",
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp_port,
                "sender": "shopfloor@plant.example",
                "to": ["maint@plant.example"],
                "security": "none",
            },
        ]
    )


async def collect_scores(subscription: Subscription, starts: list[int]) -> None:
    """Every window start the runtime publishes a score for, in order."""
    while True:
        for delivery in await subscription.get_batch(256, 0.2):
            record = delivery.record
            if isinstance(record, ScalarBatch):
                starts.extend(record.ts_ns.tolist())
            delivery.ack()


async def windows_of(store: Store, project: Project, start_ns: int, end_ns: int) -> list[int]:
    """Starts of the windows the pipeline cuts from the stored data, in ``[start_ns, end_ns]``."""
    pipeline, _ = project_pipeline(project, PIPELINE, load_fitted=False)
    frame = await read_features(store, pipeline, start_ns - 30 * NS_PER_S, end_ns + 5 * NS_PER_S)
    t0 = frame.t0_ns
    return [int(t) for t in t0[(t0 >= start_ns) & (t0 <= end_ns)]]


async def stored_starts(store: Store, ref: SignalRef) -> list[int]:
    table = await store.read_scalars(ref, 0, 2**62)
    return [int(t) for t in table.column("ts").cast("int64").to_numpy()]


def opened(alert: Alert) -> int:
    return alert.opened_ns


async def read_node(sim: CncSimServer, name: str) -> Any:
    async with Client(sim.endpoint_url, timeout=10) as client:  # the test reads, not the platform
        return await client.get_node(sim.node_id(name)).read_value()


async def live_phase(
    project: Project, sim: CncSimServer, receivers: tuple[Receiver, list[Any], Mailbox]
) -> int:
    """Train, deploy, swap, alarm (part 1 of the module docstring); the deploy time."""
    webhook, mqtt_messages, mailbox = receivers
    start_ns = sim.model.start_ns
    onset_ns = start_ns + round(ONSET_S * NS_PER_S)
    baseline_end = start_ns + round(BASELINE_S * NS_PER_S)
    platform = Platform.from_project(project, services=project_services(project, pipelines=False))
    await platform.start()
    store = platform.store
    assert isinstance(store, AlertStore)
    accel = SignalRef(ASSET, "spindle_accel")
    starts: list[int] = []
    subscription = await platform.bus.subscribe(topic_for(SCORE), name="test", maxsize=100_000)
    collector = asyncio.create_task(collect_scores(subscription, starts))
    try:

        async def baseline_stored() -> bool:
            span = await store.time_range(accel)
            return span is not None and span[1] >= baseline_end

        await until(
            baseline_stored, "the healthy period in the store", BASELINE_S / TIME_SCALE + 60
        )
        options = baseline_training(start_ns, baseline_end)
        cards = [await train_model(options, project, who="test", store=store) for _ in (1, 2)]
        assert [c["version"] for c in cards] == [1, 2]
        assert await read_node(sim, "Alarm.Active") is False
        rows = await deploy(
            project, store, f"{MODEL}@1", assets=[ASSET], mode="active", name=None, who="test"
        )
        deployed_ns = int(rows[0]["changed_ns"])
        live_from = sim.sim_time_ns() + 10 * NS_PER_S
        await until(lambda: starts and starts[-1] > live_from, "live windows of version 1", 60)
        await deploy(  # the swap, while the data stream
            project, store, f"{MODEL}@2", assets=[ASSET], mode="active", name=None, who="test"
        )
        swapped_at = sim.sim_time_ns()

        async def alarm() -> Any:
            return await store.list_alerts(rule=RULE)

        due_s = (ONSET_S + DUE_S - (sim.sim_time_ns() - start_ns) / NS_PER_S) / TIME_SCALE
        alert = min(await until(alarm, "the alarm", max(due_s, 0.0) + 30), key=opened)
        assert onset_ns <= alert.opened_ns <= onset_ns + round(DUE_S * NS_PER_S), (
            f"alarm {(alert.opened_ns - onset_ns) / NS_PER_S:.1f} s after the onset, "
            f"expected within 0 .. {DUE_S:g} s"
        )
        states = await store.read_scalars(STATE, 0, onset_ns)
        assert not np.any(states.column("value").to_numpy() >= 2), "an alarm state before onset"

        async def written() -> bool:
            history = await store.alert_history(alert.id or 0)
            return sum(c.action == "written" for c in history) == 3

        await until(written, "the write-back of the alarm nodes", 30)
        assert await read_node(sim, "Alarm.Active") is True
        await until(
            lambda: webhook.bodies and mqtt_messages and mailbox.messages, "notifications", 30
        )
        await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
        hooks = [json.loads(body) for _, body in webhook.bodies]
        assert [(b["rule"], b["alert_id"]) for b in hooks if b["state"] == "open"] == [
            (RULE, str(alert.id))
        ]
        published = [json.loads(m.payload) for m in mqtt_messages]
        assert [m["alert_id"] for m in published if m["state"] == "open"] == [str(alert.id)]
        mails = [message_from_bytes(m, policy=policy.default) for m in mailbox.messages]
        assert [m["Subject"] for m in mails if m["Subject"].endswith(": open")] == [
            f"[alarm] {RULE} on {ASSET}: open"
        ]
        health = (await platform.status())["services"]["deployments"]
        assert health["swaps"] == 1 and health["errors"] == 0
        assert health["deployments"][f"{MODEL} on {ASSET}"]["model"] == f"{MODEL}@2"
        # a backlog for part 2: the deployment stops while the data go on being stored
        await stop(store, MODEL, asset=ASSET, who="test")
        await until(lambda: not deployment_health(platform), "the deployment to stop", 30)
        await asyncio.sleep(BACKLOG_S / TIME_SCALE)
    finally:
        collector.cancel()
        await platform.stop()  # what the bus holds reaches the store
    # each window scored exactly once, across the swap: the windows of the stored data
    assert len(starts) == len(set(starts)), "a window was scored twice"
    assert starts == sorted(starts)
    assert starts[0] < swapped_at < starts[-1]
    async with DuckDBStore(project.store_path, read_only=True) as stored:
        assert starts == await windows_of(stored, project, deployed_ns, starts[-1])
    return deployed_ns


def deployment_health(platform: Platform) -> dict[str, Any]:
    running = (s.health() for s in platform.services if s.name == "deployments")
    return dict(next(running)["deployments"].get(f"{MODEL} on {ASSET}", {}))


async def shopfloor_run(folder: Path, log: Path) -> asyncio.subprocess.Process:
    """``shopfloor run`` on the project in ``folder``, in its own process."""
    env = {**os.environ, "PYTHONPATH": f"{Path(shopfloor.__file__).parents[1]}:{ROOT}"}
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shopfloor.cli.main", "run", "--project", str(folder),
            stdout=out, stderr=out, env=env,
        )  # fmt: skip


async def scoring(project: Project, proc: asyncio.subprocess.Process, log: Path) -> dict[str, Any]:
    """The running platform's deployment ``spindle`` (windows, last window) from its API."""
    assert proc.returncode is None, log.read_text()[-3000:]
    lock = read_lock(project.state_dir)
    if lock is None or lock.api_url is None:
        return {}
    token = read_token(project.state_dir)
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.get(
            f"{lock.api_url}/api/v1/status", headers={"authorization": f"Bearer {token}"}
        )
    reply.raise_for_status()
    running = reply.json()["services"]["deployments"]["deployments"]
    return dict(running.get(f"{MODEL} on {ASSET}", {}))


async def kill_phase(project: Project, sim: CncSimServer, deployed_ns: int, log: Path) -> None:
    """kill -9 of ``shopfloor run`` and a restart (part 2 of the module docstring)."""
    folder = project.root
    async with DuckDBStore(project.store_path) as store:  # on again: it resumes from history
        await deploy(
            project, store, f"{MODEL}@2", assets=[ASSET], mode="active", name=None, who="test"
        )
    first = await shopfloor_run(folder, log)
    try:

        async def scored_some() -> bool:
            await asyncio.sleep(0.2)  # between two requests to its API
            return int((await scoring(project, first, log)).get("windows", 0)) >= 15

        await until(scored_some, "windows scored by 'shopfloor run'", 90)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    async with DuckDBStore(project.store_path) as store:
        resumed_after = max(await stored_starts(store, SCORE))
        span = await store.time_range(SignalRef(ASSET, "spindle_accel"))
        assert span is not None
        unscored = await windows_of(store, project, resumed_after + 1, span[1])
    assert unscored, "the kill left no stored window unscored: nothing to resume from history"
    await asyncio.sleep(3.0)  # down: the machine runs on
    restarted_ns = sim.sim_time_ns()
    second = await shopfloor_run(folder, log)
    try:

        async def caught_up() -> bool:
            await asyncio.sleep(0.2)
            last = (await scoring(project, second, log)).get("last_window")
            return last is not None and last > format_ns(restarted_ns + 5 * NS_PER_S)

        await until(caught_up, "the restarted platform to catch up", 90)
        await sim.stop()  # no new data: what the platform scored stays as it is
        settled: list[dict[str, Any]] = []

        async def settle() -> bool:
            settled.append(await scoring(project, second, log))
            await asyncio.sleep(0.5)
            return len(settled) > 3 and settled[-1] == settled[-4]  # for 1.5 s

        await until(settle, "the restarted platform to score the last windows", 30)
        second.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            assert await second.wait() == 0, log.read_text()[-3000:]
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    async with DuckDBStore(project.store_path, read_only=True) as store:
        starts = await stored_starts(store, SCORE)
        assert len(starts) == len(set(starts))
        assert starts == await windows_of(store, project, deployed_ns, starts[-1])
        assert set(unscored) <= set(starts)
        after_kill = [t for t in starts if t > resumed_after]
        assert format_ns(after_kill[-1]) == settled[-1]["last_window"]
        assert len(after_kill) == settled[-1]["windows"], "a window was scored twice"
        letters = await store.read_dead_letters()
        assert not [
            letter
            for letter in letters
            if letter.source.startswith("deployments:")
            or str(letter.detail.get("signal", "")).startswith(f"{ASSET}/{MODEL}.")
        ]


async def test_train_deploy_swap_alarm_writeback_notify_kill_restart(
    tmp_path: Path,
    webhook_receiver: Receiver,
    broker: int,
    smtp: tuple[int, Mailbox],
) -> None:
    smtp_port, mailbox = smtp
    config = CncSimConfig.model_validate(
        {
            "port": 0,
            "time_scale": TIME_SCALE,
            "asset_path": ASSET,
            "program": {"idle_s": 2.0, "tool_change_s": 2.0},
            "fault": {"type": "outer_race", "onset": ONSET_S, "growth_s": GROWTH_S},
            "ground_truth_path": str(tmp_path / "ground_truth.json"),
            "pki_dir": str(tmp_path / "sim-pki"),
        }
    )
    sim = CncSimServer(config)
    await sim.start()
    try:
        folder = tmp_path / "plant"
        folder.mkdir()
        text = demo_project_text(
            sim.port, notifiers=notifiers(webhook_receiver.url, broker, smtp_port)
        )
        (folder / "factory.yaml").write_text(text, encoding="utf-8")
        project = load_project(folder)
        mqtt_messages: list[Any] = []
        async with aiomqtt.Client("127.0.0.1", broker) as mqtt:
            await mqtt.subscribe("shopfloor/v1/alerts/#", qos=1)

            async def listen() -> None:
                async for message in mqtt.messages:
                    mqtt_messages.append(message)

            listener = asyncio.create_task(listen())
            try:
                receivers = (webhook_receiver, mqtt_messages, mailbox)
                deployed_ns = await live_phase(project, sim, receivers)
            finally:
                listener.cancel()
        await kill_phase(project, sim, deployed_ns, tmp_path / "run.log")
    finally:
        if sim.running:
            await sim.stop()
