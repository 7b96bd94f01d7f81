"""A platform start hands each connector the last stored timestamp of its signals."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from shopfloor.config import Project, load_project
from shopfloor.connectors.engine import ConnectorEngine
from shopfloor.model import Provenance, ScalarBatch, SignalRef
from shopfloor.node import Platform
from shopfloor.node.access import register_project_signals
from shopfloor.node.resume import bound_signals, read_resume_points
from shopfloor.node.services import project_services
from shopfloor.store import DuckDBStore

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
T0 = 1_714_521_600 * 10**9  # 2024-05-01
S = 10**9


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_project(folder: Path) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: resume-test}}
assets:
  - path: {ASSET}
    signals:
      - {{name: spindle_speed, unit: rpm, connector: cnc, source: "ns=2;s=CNC01.Spindle.Speed"}}
      - {{name: spindle_temperature, unit: degC, connector: cnc,
          source: "ns=2;s=CNC01.Spindle.Temperature"}}
      - {{name: spindle_load, unit: percent}}
connectors:
  - name: cnc
    type: opcua
    endpoint: opc.tcp://127.0.0.1:{closed_port()}
    request_timeout_s: 1
    reconnect: {{initial_s: 0.2, max_s: 1.0}}
"""
    )
    return load_project(folder)


async def store_values(project: Project) -> None:
    """Speed and load have data (load is bound to no connector); temperature has none."""
    store = DuckDBStore(project.store_path, project.config.store)
    await store.open()
    try:
        await register_project_signals(store, project)
        for name in ("spindle_speed", "spindle_load"):
            ref = SignalRef(ASSET, name)
            stamps = [T0 + i * S for i in range(10)]
            await store.write([ScalarBatch.of(ref, stamps, [1.0] * 10, Provenance("test"))])
    finally:
        await store.close()


def test_bound_signals_are_those_with_a_connector_and_a_source(tmp_path: Path) -> None:
    project = write_project(tmp_path / "plant")
    assert bound_signals(project) == [
        SignalRef(ASSET, "spindle_speed"),
        SignalRef(ASSET, "spindle_temperature"),
    ]


async def test_resume_points_are_the_last_stored_timestamps(tmp_path: Path) -> None:
    project = write_project(tmp_path / "plant")
    await store_values(project)
    store = DuckDBStore(project.store_path, project.config.store)
    await store.open()
    try:
        points = await read_resume_points(store, bound_signals(project))
    finally:
        await store.close()
    assert points == {SignalRef(ASSET, "spindle_speed"): T0 + 9 * S}


async def test_platform_start_hands_the_resume_points_to_the_connector(tmp_path: Path) -> None:
    project = write_project(tmp_path / "plant")
    await store_values(project)
    platform = Platform.from_project(project, services=project_services(project))
    await platform.start()
    try:
        assert platform.resume == {SignalRef(ASSET, "spindle_speed"): T0 + 9 * S}
        engine = next(s for s in platform.services if isinstance(s, ConnectorEngine))
        runner = engine.runner("cnc")
        async with asyncio.timeout(30):
            while runner.connector is None:
                await asyncio.sleep(0.05)
        context = runner.connector.context  # type: ignore[attr-defined]
        assert dict(context.resume) == {SignalRef(ASSET, "spindle_speed"): T0 + 9 * S}
        # the OPC UA connector starts from there, as after a reconnect
        assert runner.connector._last_ts == {SignalRef(ASSET, "spindle_speed"): T0 + 9 * S}  # type: ignore[attr-defined]
    finally:
        await platform.stop()
