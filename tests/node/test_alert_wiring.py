"""The platform runs the project's alert rules and shows the engine in its health."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from shopfloor.config import load_project
from shopfloor.config.template import EXAMPLE_PROJECT
from shopfloor.model import Provenance, ScalarBatch, SignalRef, now_ns, topic_for
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from tests.receivers import Receiver

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


async def test_platform_raises_and_notifies(tmp_path: Path, webhook_receiver: Receiver) -> None:
    text = (
        EXAMPLE_PROJECT.replace(
            "alert_rules: []",
            f"alert_rules:\n  - {{name: hot, signal: {ASSET}/spindle_temperature, threshold: 70,"
            " severity: alarm, notify: [ops]}",
        )
        .replace(
            "notifiers: []",
            f"notifiers:\n  - {{name: ops, type: webhook, url: '{webhook_receiver.url}'}}",
        )
        .replace("type: opcua", "type: opcua\n    enabled: false")
    )
    (tmp_path / "factory.yaml").write_text(text, encoding="utf-8")
    project = load_project(tmp_path, build_pipelines=False)
    services = project_services(project, pipelines=False)
    platform = Platform.from_project(project, services=services)
    await platform.start()
    try:
        ref = SignalRef(ASSET, "spindle_temperature")
        t = now_ns()
        await platform.bus.publish(
            topic_for(ref), ScalarBatch.of(ref, [t, t + 10**9], [75.0, 76.0], Provenance("test"))
        )
        async with asyncio.timeout(10):
            while not webhook_receiver.bodies:
                await asyncio.sleep(0.02)
        health = (await platform.status())["services"]["alerts"]
        assert health["open_alerts"] == 1 and health["rules"] == 1
        assert health["notifiers"]["ops"]["sent"] == 1
    finally:
        await platform.stop()
    body = json.loads(webhook_receiver.bodies[0][1])
    assert body["rule"] == "hot" and body["state"] == "open" and body["severity"] == "alarm"
