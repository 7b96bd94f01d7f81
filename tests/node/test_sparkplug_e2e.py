"""End to end on loopback: a Sparkplug B edge node → mosquitto → the platform → its store.

The project names no signal: the births create them in the platform's store, every metric's
values are stored under them, and a second start of the platform takes the births again
without a conflict.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from shopfloor.config import load_project
from shopfloor.connectors.sparkplug.mapping import signal_name_of
from shopfloor.model import SignalKind, SignalRef
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.sim.sparkplug import DEFAULT_DEVICES, DEFAULT_NODE_METRICS, EdgeNodeSimConfig
from tests.connectors.sparkplug_env import NODE, PRESS, sim

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REFS = {SignalRef(NODE, signal_name_of(m.name)) for m in DEFAULT_NODE_METRICS} | {
    SignalRef(PRESS, signal_name_of(m.name)) for m in DEFAULT_DEVICES["press-1"]
}


def project_text(port: int) -> str:
    return f"""
project: {{name: sparkplug-e2e}}
connectors:
  - name: sparkplug
    type: sparkplug
    port: {port}
    groups: [{EdgeNodeSimConfig(port=port).group}]
    asset_template: "acme/plant1/{{group}}/{{edge_node}}/main/{{device}}"
    reconnect: {{initial_s: 0.2, max_s: 1.0}}
"""


async def _counts(platform: Platform) -> dict[SignalRef, int]:
    store = platform.store
    known = {info.ref: info for info in await store.signals()}
    counts: dict[SignalRef, int] = {}
    for ref in REFS & set(known):
        if known[ref].definition.kind == SignalKind.EVENT:
            counts[ref] = len(await store.read_events(0, 2**62, ref=ref))
        else:
            counts[ref] = (await store.read_scalars(ref, 0, 2**62)).num_rows
    return counts


async def _run_until_every_metric_is_stored(platform: Platform, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        counts = await _counts(platform)
        if len(counts) == len(REFS) and min(counts.values()) >= at_least:
            return
        assert time.monotonic() < deadline, (counts, await platform.status())
        await asyncio.sleep(0.2)


async def test_births_become_signals_of_the_store_and_every_metric_is_stored(
    broker: int, tmp_path: Path
) -> None:
    (tmp_path / "factory.yaml").write_text(project_text(broker), encoding="utf-8")
    async with sim(broker, primary_host="shopfloor"):
        for round_ in (1, 2):  # the second start takes the births again
            project = load_project(tmp_path, build_pipelines=False)
            platform = Platform.from_project(project, services=project_services(project))
            await platform.start()
            try:
                await _run_until_every_metric_is_stored(platform, 5 * round_)
                status = await platform.status()
                health = status["services"]["connectors"]["sparkplug"]
                assert health["health"] == "ok", health
                node = health["details"]["edge_nodes"]["Line1/press-gw"]
                assert node["state"] == "online" and node["devices"] == {"press-1": "online"}
                speed = next(
                    i.definition
                    for i in await platform.store.signals()
                    if i.ref.name == "Motor.Speed"
                )
                assert (speed.unit, speed.dtype, speed.connector) == ("rpm", "float32", "sparkplug")
                assert not await platform.store.read_dead_letters(source="sparkplug")
            finally:
                await platform.stop()
