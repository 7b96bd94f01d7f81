"""Write-back: allow-list, pacing (coalescing), retries, records, and never in the way."""

from __future__ import annotations

import asyncio
import doctest
import importlib
import logging
from pathlib import Path
from typing import Any

import pytest

from shopfloor.bus.memory import MemoryBus
from shopfloor.connectors.opcua.client import OpcUaConnector
from shopfloor.connectors.opcua.config import OpcUaConfig
from shopfloor.connectors.writes import WriteValue
from shopfloor.errors import WriteRefused
from shopfloor.retry import RetryPolicy
from shopfloor.runtime.alerts import AlertEngine
from shopfloor.runtime.writeback import (
    ConnectorWriter,
    WritebackConnectorConfig,
    WritebackService,
    WriteRequest,
    WriteResult,
)
from shopfloor.store import DuckDBStore
from tests.connectors.test_opcua_gaps import Recorder
from tests.connectors.test_opcua_writer import Plain, plain
from tests.runtime.test_alert_engine import T0, TEMP, Clock, publish, rule, store, until

__all__ = ["plain", "store"]

ALARM = "ns=2;s=CNC01.Alarm.Active"
TEXT = "ns=2;s=CNC01.Alarm.Message"
FAST = {"initial_s": 0.01, "max_s": 0.02, "jitter": 0.0}


class Machine:
    """A Writer that keeps what it is told (a stand-in for a machine that always answers)."""

    def __init__(self) -> None:
        self.values: list[tuple[str, WriteValue]] = []

    async def write(self, address: str, value: WriteValue) -> object:
        self.values.append((address, value))
        return value


class Silent:
    """A Writer whose machine never answers."""

    def __init__(self) -> None:
        self.calls = 0

    async def write(self, address: str, value: WriteValue) -> object:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def allow(**kw: Any) -> WritebackConnectorConfig:
    base: dict[str, Any] = {
        "connector": "cnc",
        "targets": [{"address": ALARM, "type": "Boolean"}, {"address": TEXT}],
        "retry": FAST,
    }
    return WritebackConnectorConfig.model_validate({**base, **kw})


def alerting(
    store: DuckDBStore, service: WritebackService, text: str, **kw: Any
) -> tuple[MemoryBus, AlertEngine]:
    """An engine whose rule (above 80) writes the alarm flag and ``text`` to the machine."""
    bus = MemoryBus()
    hot = rule(
        name="hot",
        signal=TEMP.path,
        threshold=80,
        writeback=[
            {"connector": "cnc", "address": ALARM, "value": True, "reset": False},
            {"connector": "cnc", "address": TEXT, "value": text},
        ],
        **kw,
    )
    return bus, AlertEngine([hot], bus, store, writeback=service, clock=Clock(), tick_s=0.01)


def request(value: WriteValue, address: str = ALARM, connector: str = "cnc") -> WriteRequest:
    return WriteRequest("hot", None, "acme/p/a/l/c/cnc-01", "raised", connector, address, value, T0)


class Results:
    def __init__(self) -> None:
        self.items: list[WriteResult] = []

    async def __call__(self, result: WriteResult) -> None:
        self.items.append(result)


async def test_writes_closer_than_the_interval_coalesce_to_the_latest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    machine, results = Machine(), Results()
    service = WritebackService([allow(min_interval_s=0.3)], {"cnc": machine}, on_result=results)
    await service.start()
    try:
        assert service.request(request(True))
        await until(lambda: len(results.items) == 1)
        with caplog.at_level(logging.INFO, logger="shopfloor.runtime.writeback.service"):
            for value in (False, True, False):  # within the interval: only the last is written
                service.request(request(value))
            assert service.health()["targets"][f"cnc {ALARM}"]["pending"] == "False"
            await until(lambda: len(results.items) == 2)
    finally:
        await service.stop()
    assert machine.values == [(ALARM, True), (ALARM, False)]
    assert [r.coalesced for r in results.items] == [0, 2]
    assert all(r.verified and r.attempts == 1 for r in results.items)
    assert "2 earlier request(s) coalesced" in results.items[1].summary()
    assert sum("writeback.coalesced" in m for m in caplog.messages) == 2
    target = service.health()["targets"][f"cnc {ALARM}"]
    assert target["writes"] == 2 and target["coalesced"] == 2 and target["state"] == "ok"


async def test_only_allow_listed_targets_are_written() -> None:
    machine = Machine()
    service = WritebackService([allow()], {"cnc": machine})
    await service.start()
    try:
        assert not service.request(request(True, address="ns=2;s=CNC01.Spindle.Override"))
        assert not service.request(request(True, connector="press"))
        await asyncio.sleep(0.05)
    finally:
        await service.stop()
    assert machine.values == []
    health = service.health()
    assert health["refused"] == 2 and "not in the writeback allow-list" in health["last_refused"]


async def test_a_value_outside_the_allow_lists_type_is_failed_without_retrying() -> None:
    machine, results = Machine(), Results()
    service = WritebackService([allow()], {"cnc": machine}, on_result=results)
    await service.start()
    try:
        service.request(request(2.5))
        await until(lambda: len(results.items) == 1)
    finally:
        await service.stop()
    (result,) = results.items
    assert not result.verified and result.attempts == 1 and machine.values == []
    assert "2.5 does not fit a Boolean" in (result.error or "")
    assert service.health()["state"] == "failed"


async def test_a_failing_server_is_retried_then_failed_in_health(
    plain: Plain,
    tmp_path: Path,
) -> None:
    conn = OpcUaConnector(
        OpcUaConfig(name="plc", endpoint=plain.url, request_timeout_s=2, watchdog_interval_s=0.2),
        [],
        Recorder(tmp_path).context,
    )
    await conn.connect()
    up = {"plc": conn}
    results = Results()
    entry = allow(connector="plc", targets=[{"address": plain.node("Flag")}], attempts=3)
    service = WritebackService([entry], {"plc": ConnectorWriter("plc", up.get)}, on_result=results)
    await service.start()
    try:
        service.request(request(True, address=plain.node("Flag"), connector="plc"))
        await until(lambda: len(results.items) == 1, 10)
        assert results.items[0].verified
        await plain.server.stop()  # the machine goes away
        service.request(request(False, address=plain.node("Flag"), connector="plc"))
        await until(lambda: len(results.items) == 2, 20)
    finally:
        await service.stop()
        await conn.close()
    failed = results.items[1]
    assert not failed.verified and failed.attempts == 3
    health = service.health()
    target = health["targets"][f"plc {plain.node('Flag')}"]
    assert health["state"] == "failed" and target["state"] == "failed" and target["failed"] == 1
    assert target["last_error"] == failed.error and failed.error
    assert target["last_value"] == "True"  # the last value the machine confirmed


async def test_a_machine_that_never_answers_does_not_hold_up_alerts(
    store: DuckDBStore,
) -> None:
    machine = Silent()
    entry = allow(timeout_s=0.1, attempts=2, min_interval_s=0)
    service = WritebackService([entry], {"cnc": machine})
    bus, engine = alerting(store, service, "{severity}: {message}", severity="alarm")
    await engine.start()
    try:
        await publish(bus, TEMP, [0, 1, 2], [90, 70, 95])  # raised, resolved, raised again
        await until(lambda: engine.raised == 2 and engine.resolved == 1)
        alerts = await store.list_alerts()

        async def actions() -> list[str]:
            return [c.action for a in alerts for c in await store.alert_history(a.id or 0)]

        async def recorded() -> bool:
            return "write_failed" in await actions()

        await until(recorded)
    finally:
        await engine.stop()
    assert machine.calls >= 2  # each target was tried, and timed out
    health = engine.health()["writeback"]
    assert health["state"] == "failed"
    assert health["targets"][f"cnc {ALARM}"]["last_error"] == "no answer within 0.1 s"
    assert sorted(set(await actions())) == ["raised", "resolved", "write_failed"]


async def test_alerts_are_evaluated_while_a_write_hangs(
    store: DuckDBStore,
) -> None:
    bus, clock, machine = MemoryBus(), Clock(), Silent()
    service = WritebackService([allow(timeout_s=600)], {"cnc": machine})
    hot = rule(
        name="hot", signal=TEMP.path, threshold=80, writeback={"connector": "cnc", "address": ALARM}
    )
    engine = AlertEngine([hot], bus, store, writeback=service, clock=clock, tick_s=0.01)
    await engine.start()
    try:
        await publish(bus, TEMP, [0], [90])
        await until(lambda: machine.calls == 1)  # the write hangs from here on
        await publish(bus, TEMP, [1, 2, 3, 4], [70, 95, 70, 95])
        await until(lambda: engine.raised == 3 and engine.resolved == 2)
        assert len(await store.list_alerts()) == 3
        assert engine.health()["writeback"]["targets"][f"cnc {ALARM}"]["pending"] == "True"
    finally:
        await engine.stop()


async def test_every_write_is_in_the_alerts_history(
    store: DuckDBStore,
) -> None:
    machine = Machine()
    service = WritebackService([allow(min_interval_s=0)], {"cnc": machine})
    bus, engine = alerting(
        store, service, "{rule} on {asset}: {message}", message="spindle too hot"
    )
    await engine.start()
    try:
        await publish(bus, TEMP, [0], [90])
        await until(lambda: len(machine.values) == 2)
        await publish(bus, TEMP, [1], [70])
        await until(lambda: len(machine.values) == 3)
        (alert,) = await store.list_alerts()

        async def recorded() -> bool:
            changes = await store.alert_history(alert.id or 0)
            return sum(c.action == "written" for c in changes) == 3

        await until(recorded)
    finally:
        await engine.stop()
    assert sorted(machine.values, key=str) == sorted(
        [(ALARM, True), (TEXT, f"hot on {alert.asset}: spindle too hot"), (ALARM, False)], key=str
    )
    history = await store.alert_history(alert.id or 0)
    assert sorted(c.action for c in history) == ["raised", "resolved", *["written"] * 3]
    comments = [c.comment for c in history if c.action == "written"]
    assert any(f"True to cnc {ALARM}: written and read back as True" in c for c in comments)
    assert any("(resolved): False" in c for c in comments)
    assert all(c.who == "system" for c in history)


def test_an_allow_list_target_refuses_values_outside_its_range() -> None:
    entry = WritebackConnectorConfig.model_validate(
        {"connector": "cnc", "targets": [{"address": "x", "type": "Int32", "min": 1, "max": 1000}]}
    )
    assert entry.targets[0].admit("800") == 800
    with pytest.raises(WriteRefused, match=r"outside the allowed range 1..1000"):
        entry.targets[0].admit(0)
    assert RetryPolicy() == entry.retry


@pytest.mark.parametrize(
    "module_name",
    [
        "shopfloor.connectors.writes",
        "shopfloor.connectors.opcua.writer",
        "shopfloor.runtime.config",
    ],
)
def test_examples_run(module_name: str) -> None:
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.failed == 0 and result.attempted > 0
