"""End to end on loopback: CNC simulator → platform → alert rule → the simulator's alarm nodes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asyncua import Client

from shopfloor.config import load_project
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.sim.cnc import CncSimConfig, CncSimServer
from shopfloor.store.protocol import AlertStore

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def project_text(endpoint: str) -> str:
    return f"""
project: {{name: writeback-e2e}}
assets:
  - path: {ASSET}
    signals:
      - {{name: spindle_temperature, unit: degC, connector: cnc,
          source: "ns=2;s=CNC01.Spindle.Temperature"}}
connectors:
  - name: cnc
    type: opcua
    endpoint: {endpoint}
    history_backfill: false
    request_timeout_s: 3
    reconnect: {{initial_s: 0.2, max_s: 1.0}}
alert_rules:
  - name: spindle-warm
    signal: {ASSET}/spindle_temperature
    threshold: 5          # the simulated spindle is always warmer: raised on the first value
    severity: alarm
    message: spindle anomaly
    writeback:
      - {{connector: cnc, address: "ns=2;s=CNC01.Alarm.Active", value: true, reset: false}}
      - {{connector: cnc, address: "ns=2;s=CNC01.Alarm.Severity", value: 800}}
      - {{connector: cnc, address: "2:CNC01/2:Alarm/2:Message", value: "{{severity}}: {{message}}"}}
writeback:
  - connector: cnc
    targets:
      - {{address: "ns=2;s=CNC01.Alarm.Active", type: Boolean}}
      - {{address: "ns=2;s=CNC01.Alarm.Severity", type: Int32, min: 1, max: 1000}}
      - {{address: "2:CNC01/2:Alarm/2:Message", type: String}}
"""


async def test_an_alert_sets_the_simulators_alarm_nodes(tmp_path: Path) -> None:
    async with CncSimServer(CncSimConfig(port=0, history=False)) as sim:
        (tmp_path / "factory.yaml").write_text(project_text(sim.endpoint_url), encoding="utf-8")
        project = load_project(tmp_path, build_pipelines=False)
        platform = Platform.from_project(project, services=project_services(project))
        await platform.start()
        try:
            await sim.wait_for_write("Alarm.Active", timeout_s=30)
            await sim.wait_for_write("Alarm.Message", timeout_s=10)
            store = platform.store
            assert isinstance(store, AlertStore)
            (alert,) = await store.list_alerts()
            async with asyncio.timeout(10):
                while (
                    sum(c.action == "written" for c in await store.alert_history(alert.id or 0)) < 3
                ):
                    await asyncio.sleep(0.05)
            health = (await platform.status())["services"]["alerts"]["writeback"]
        finally:
            await platform.stop()
        client = Client(sim.endpoint_url)
        async with client:  # read back by the test, not by the platform
            active = await client.get_node(sim.node_id("Alarm.Active")).read_value()
            severity = await client.get_node(sim.node_id("Alarm.Severity")).read_value()
            message = await client.get_node(sim.node_id("Alarm.Message")).read_value()
    assert (active, severity, message) == (True, 800, "alarm: spindle anomaly")
    assert {w.name for w in sim.writes} == {"Alarm.Active", "Alarm.Severity", "Alarm.Message"}
    assert all(w.status == "Good" for w in sim.writes)
    assert health["state"] == "ok"
    assert all(t["verified"] == 1 for t in health["targets"].values())
