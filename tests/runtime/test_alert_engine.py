"""The alert engine on the in-process bus, with a webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from shopfloor.bus.memory import MemoryBus
from shopfloor.model import Provenance, ScalarBatch, Signal, SignalRef, topic_for
from shopfloor.model.alert import AlertState, raise_alert, shelve
from shopfloor.retry import RetryPolicy
from shopfloor.runtime.alerts import AlertEngine
from shopfloor.runtime.config import AlertRuleConfig
from shopfloor.runtime.notifiers import NotificationDispatcher, NotifierConfig
from shopfloor.store import DuckDBStore
from tests.receivers import Receiver

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
TEMP = SignalRef(ASSET, "spindle_temperature")
SPEED = SignalRef(ASSET, "spindle_speed")
S = 1_000_000_000
T0 = 1_700_000_000 * S
CONFIG: TypeAdapter[Any] = TypeAdapter(NotifierConfig)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def rule(**kw: Any) -> AlertRuleConfig:
    return AlertRuleConfig.model_validate(kw)


async def until(check: Callable[[], Any], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check() if asyncio.iscoroutinefunction(check) else not check():
            await asyncio.sleep(0.01)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "store.duckdb")
    await s.open()
    await s.register_signals(
        ASSET, [Signal(name="spindle_temperature"), Signal(name="spindle_speed")]
    )
    yield s
    await s.close()


async def publish(
    bus: MemoryBus, ref: SignalRef, seconds: list[float], values: list[float]
) -> None:
    batch = ScalarBatch.of(ref, [T0 + int(t * S) for t in seconds], values, Provenance("test"))
    await bus.publish(topic_for(ref), batch)


def engine_for(
    rules: list[AlertRuleConfig], bus: MemoryBus, store: DuckDBStore, url: str, clock: Clock
) -> AlertEngine:
    hook = CONFIG.validate_python(
        {"type": "webhook", "name": "ops", "url": url, "min_severity": "info"}
    )
    dispatcher = NotificationDispatcher.from_configs(
        [hook], RetryPolicy(initial_s=0.01, jitter=0.0)
    )
    return AlertEngine(rules, bus, store, dispatcher, clock=clock, tick_s=0.01)


async def test_raise_update_and_auto_resolve(
    store: DuckDBStore, webhook_receiver: Receiver
) -> None:
    bus, clock = MemoryBus(), Clock()
    hot = rule(name="hot", signal=TEMP.path, threshold=80, hysteresis=5, for_s=2, severity="alarm")
    engine = engine_for([hot], bus, store, webhook_receiver.url, clock)
    await engine.start()
    try:
        await publish(bus, TEMP, [0, 1], [85, 86])  # beyond for 1 s: not yet
        await until(lambda: engine.evaluated == 2)
        assert await store.list_alerts() == []
        await publish(bus, TEMP, [2, 3], [87, 88])  # 2 s: raised, once
        await until(lambda: engine.raised == 1)
        await publish(
            bus, TEMP, [4, 5, 6, 7], [79, 90, 0.0 + float("nan"), 90]
        )  # again, still open
        await until(lambda: engine.evaluated == 8)
        (alert,) = await store.list_alerts()
        assert alert.state is AlertState.OPEN and alert.value == 87.0
        assert engine.health()["open_alerts"] == 1 and engine.health()["unknown"] == []
        await publish(bus, TEMP, [8, 9, 10, 11], [76, 74, 73, 72])  # below 75 for 2 s
        await until(lambda: engine.resolved == 1)
        (alert,) = await store.list_alerts()
        assert alert.state is AlertState.RESOLVED and alert.resolved_ns == T0 + 11 * S
        history = [c.action for c in await store.alert_history(alert.id or 0)]
        assert history == ["raised", "resolved"]
        assert engine.dispatcher is not None and await engine.dispatcher.drain(5.0)
    finally:
        await engine.stop()
    states = [json.loads(body)["state"] for _, body in webhook_receiver.bodies]
    assert states == ["open", "resolved"]
    assert json.loads(webhook_receiver.bodies[0][1])["alert_id"] == str(alert.id)


async def test_one_open_alert_per_rule_and_asset_across_restarts(
    store: DuckDBStore, webhook_receiver: Receiver
) -> None:
    bus, clock = MemoryBus(), Clock()
    hot = rule(name="hot", signal=TEMP.path, threshold=80, auto_resolve=False)
    engine = engine_for([hot], bus, store, webhook_receiver.url, clock)
    await engine.start()
    await publish(bus, TEMP, [0, 1, 2], [90, 70, 91])  # raised, cleared (kept open), raised
    await until(lambda: engine.evaluated == 3)
    await engine.stop()
    again = engine_for([hot], bus, store, webhook_receiver.url, clock)
    await again.start()
    try:
        await publish(bus, TEMP, [3, 4], [70, 95])
        await until(lambda: again.evaluated == 2)
    finally:
        await again.stop()
    (alert,) = await store.list_alerts()
    assert alert.is_open and alert.raised_count == 3  # one alert, updated twice


async def test_shelved_alert_is_not_notified_and_its_shelf_expires(
    store: DuckDBStore, webhook_receiver: Receiver
) -> None:
    bus, clock = MemoryBus(), Clock()
    for name, shelf_s in (("hot", 100), ("warm", 1)):
        alert, change = raise_alert(
            None, rule=name, asset=ASSET, severity="alarm", message="m", at_ns=T0 - S
        )
        alert = await store.save_alert(alert, [change])
        alert, change = shelve(alert, who="ana", at_ns=T0, until_ns=T0 + shelf_s * S)
        await store.save_alert(alert, [change])
    rules = [
        rule(name="hot", signal=TEMP.path, threshold=80),
        rule(name="warm", signal=SPEED.path, threshold=50),
    ]
    engine = engine_for(rules, bus, store, webhook_receiver.url, clock)
    await engine.start()
    try:
        await publish(bus, TEMP, [0], [20])  # back to normal: resolved, silently (shelved)
        await until(lambda: engine.resolved == 1)
        clock.now = T0 + 2 * S  # the shelf of "warm" has expired
        await until(lambda: all(a.shelved_until_ns is None for a in engine.open.values()))
        assert engine.dispatcher is not None and await engine.dispatcher.drain(5.0)
        assert webhook_receiver.bodies == []
    finally:
        await engine.stop()
    (warm,) = await store.list_alerts(rule="warm")
    assert [c.action for c in await store.alert_history(warm.id or 0)][-1] == "unshelved"


async def test_stale_rule_fires_without_values(
    store: DuckDBStore, webhook_receiver: Receiver
) -> None:
    bus, clock = MemoryBus(), Clock()
    quiet = rule(name="quiet", kind="stale", signal=SPEED.path, stale_s=5, severity="critical")
    engine = engine_for([quiet], bus, store, webhook_receiver.url, clock)
    await engine.start()
    try:
        await publish(bus, SPEED, [0], [1000])
        await until(lambda: engine.evaluated == 1)
        clock.now = T0 + 4 * S
        await asyncio.sleep(0.05)
        assert engine.raised == 0
        clock.now = T0 + 6 * S
        await until(lambda: engine.raised == 1)
        clock.now = T0 + 7 * S
        await publish(bus, SPEED, [7], [1000])  # a value arrives: resolved
        await until(lambda: engine.resolved == 1)
        assert engine.dispatcher is not None and await engine.dispatcher.drain(5.0)
        assert engine.health()["notifiers"]["ops"]["sent"] == 2
    finally:
        await engine.stop()
    (alert,) = await store.list_alerts()
    assert alert.severity == "critical" and "no value of" in alert.message
