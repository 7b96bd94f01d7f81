"""Every registered connector type passes every contract check, against a live source.

As River's ``test_estimators.py`` runs its checks over every estimator, this module finds
every registered connector type and runs :data:`~shopfloor.testing.CONNECTOR_CHECKS` over
it: OPC UA against the CNC simulator and Modbus against the simulated Modbus device on
loopback (each behind a TCP relay that can pull the cable), Sparkplug B against a
simulated edge node on mosquitto (the host behind a relay), replay against a small
recording. A new type without a fixture here fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.config import ReconnectPolicy
from shopfloor.connectors.registry import connector_types
from shopfloor.model import Signal, SignalRef
from shopfloor.testing import (
    CONNECTOR_CHECKS,
    ConnectorFixture,
    WriteTarget,
    check_connector,
)

from .hotfolder_env import hotfolder_fixture
from .mqtt_env import mqtt_fixture
from .opcua_env import ASSET, Proxy
from .sparkplug_env import CONTRACT_DEVICE, CONTRACT_METRICS, NODE, PRESS, host_config, sim

Check = Callable[[ConnectorFixture], Awaitable[None]]
FAST = ReconnectPolicy(initial_s=0.1, max_s=0.5, jitter=0.1)


class _Relay:
    """The CNC simulator seen through a relay: ``interrupt`` pulls the cable."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def interrupt(self) -> None:
        await self.proxy.cut()

    async def restore(self) -> None:
        await self.proxy.restore()


@asynccontextmanager
async def _relay(port: int) -> AsyncIterator[Proxy]:
    """A relay in front of a simulator's ``port``, cut when the fixture ends."""
    proxy = Proxy(port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()


@asynccontextmanager
async def opcua_fixture(folder: Path) -> AsyncIterator[ConnectorFixture]:
    from shopfloor.connectors.opcua.config import OpcUaConfig
    from shopfloor.sim.cnc import CncSimConfig, CncSimServer

    async with CncSimServer(CncSimConfig(port=0)) as sim, _relay(sim.port) as proxy:
        config = OpcUaConfig(
            name="cnc",
            endpoint=proxy.url,
            watchdog_interval_s=0.5,
            request_timeout_s=3,
            reconnect=FAST,
        )
        speed = SignalRef(ASSET, "spindle_speed")
        temperature = SignalRef(ASSET, "spindle_temperature")
        signals = [
            BoundSignal(speed, Signal(name=speed.name, unit="rpm"), "ns=2;s=CNC01.Spindle.Speed"),
            BoundSignal(
                temperature,
                Signal(name=temperature.name, unit="degC"),
                "ns=2;s=CNC01.Spindle.Temperature",
            ),
        ]
        alarm = WriteTarget("ns=2;s=CNC01.Alarm.Severity", 500, "Int32", 2.5)
        yield ConnectorFixture(
            config, signals, _Relay(proxy), speed, 0.1, root=folder, write_target=alarm
        )


@asynccontextmanager
async def modbus_fixture(folder: Path) -> AsyncIterator[ConnectorFixture]:
    from shopfloor.connectors.modbus.config import ModbusConfig
    from shopfloor.sim.modbus import ModbusSimConfig, ModbusSimServer

    async with ModbusSimServer(ModbusSimConfig(period_s=0.1)) as sim, _relay(sim.port) as proxy:
        config = ModbusConfig(
            name="plc",
            host="127.0.0.1",
            port=proxy.port,
            timeout_s=1.0,
            poll_interval_ms=100,
            reconnect=FAST,
        )
        counter = SignalRef(ASSET, "cycle_counter")
        temperature = SignalRef(ASSET, "coolant_temperature")
        signals = [
            BoundSignal(counter, Signal(name=counter.name), "holding:0"),
            BoundSignal(
                temperature,
                Signal(name=temperature.name, unit="degC"),
                "holding:1",
                {"type": "float32"},
            ),
        ]
        gate = WriteTarget("holding:20", 500, "UInt16", 70000)
        yield ConnectorFixture(
            config,
            signals,
            _Relay(proxy),
            counter,
            0.1,
            root=folder,
            backfills=False,
            write_target=gate,
        )


@asynccontextmanager
async def sparkplug_fixture(folder: Path) -> AsyncIterator[ConnectorFixture]:
    """The host behind a relay; an edge node whose primary host it is, on the broker itself."""
    from tests.receivers import mosquitto

    folder.mkdir(parents=True, exist_ok=True)
    with mosquitto(folder) as port:
        async with _relay(port) as proxy:
            config = host_config(proxy.port, auto_signals=False)
            speed = SignalRef(NODE, "line_speed")
            signals = [
                BoundSignal(
                    speed, Signal(name=speed.name, unit="m/min"), "Line1/press-gw:Line/Speed"
                ),
                BoundSignal(
                    SignalRef(PRESS, "motor_speed"),
                    Signal(name="motor_speed", unit="rpm"),
                    "Line1/press-gw/press-1:Motor/Speed",
                ),
                BoundSignal(
                    SignalRef(PRESS, "temperature"),
                    Signal(name="temperature", unit="degC"),
                    "Line1/press-gw/press-1:Temperature",
                ),
            ]
            edge = sim(
                port,
                node_metrics=CONTRACT_METRICS,
                devices={"press-1": CONTRACT_DEVICE},
                primary_host=config.host_id,
            )
            async with edge:
                yield ConnectorFixture(
                    config, signals, _Relay(proxy), speed, 0.1, root=folder, backfills=False
                )


class _Recording:
    """A recording file: ``interrupt`` moves it away, ``restore`` puts it back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.away = path.with_name(path.name + ".away")

    async def interrupt(self) -> None:
        self.path.rename(self.away)

    async def restore(self) -> None:
        self.away.rename(self.path)


@asynccontextmanager
async def replay_fixture(folder: Path) -> AsyncIterator[ConnectorFixture]:
    from shopfloor.connectors.replay.config import ReplayConfig

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spindle.csv"
    t0 = np.datetime64("2024-05-01T00:00:00", "ms")
    rows = [f"{t0 + np.timedelta64(100 * i, 'ms')}Z,{1000 + i},{30 + i % 7}" for i in range(900)]
    path.write_text("time,speed,temperature\n" + "\n".join(rows) + "\n")
    config = ReplayConfig(
        name="replay",
        path=path.name,
        speed=1.0,
        step_s=0.1,
        options={"time_column": "time"},
        reconnect=FAST,
    )
    speed = SignalRef(ASSET, "spindle_speed")
    temperature = SignalRef(ASSET, "spindle_temperature")
    signals = [
        BoundSignal(speed, Signal(name=speed.name, unit="rpm"), "speed"),
        BoundSignal(temperature, Signal(name=temperature.name, unit="degC"), "temperature"),
    ]
    yield ConnectorFixture(config, signals, _Recording(path), speed, 0.1, root=folder)


FIXTURES: dict[str, Callable[[Path], AbstractAsyncContextManager[ConnectorFixture]]] = {
    "hotfolder": hotfolder_fixture,
    "modbus": modbus_fixture,
    "mqtt": mqtt_fixture,
    "opcua": opcua_fixture,
    "replay": replay_fixture,
    "sparkplug": sparkplug_fixture,
}
"""A live source for each connector type: a new type adds its fixture here."""

LIVE = {
    "modbus": [pytest.mark.integration],
    "mqtt": [pytest.mark.integration],
    "opcua": [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")],
    "sparkplug": [pytest.mark.integration],
}


KNOWN_FAILURES: dict[tuple[str, str], pytest.MarkDecorator] = {}
"""Declared exemptions, as scikit-learn declares its estimators' known failures: each
names the one exception type it excuses, so any other failure of the check still fails."""


def _cases() -> list[object]:
    return [
        pytest.param(
            kind,
            check,
            marks=[
                *LIVE.get(kind, []),
                *filter(None, [KNOWN_FAILURES.get((kind, check.__name__))]),
            ],
            id=f"{kind}-{check.__name__}",
        )
        for kind in sorted(connector_types())
        for check in CONNECTOR_CHECKS
    ]


@pytest.mark.parametrize(("kind", "check"), _cases())
async def test_every_registered_connector_keeps_the_contract(
    kind: str, check: Check, tmp_path: Path
) -> None:
    if kind not in FIXTURES:
        pytest.fail(
            f"connector type {kind!r} is registered but has no contract fixture: "
            f"add a fixture for it to FIXTURES in {Path(__file__).name}"
        )
    async with FIXTURES[kind](tmp_path / kind) as fixture:
        assert fixture.config.type == kind
        await check(fixture)


def test_every_fixture_is_a_registered_connector_type() -> None:
    """A fixture for a type that is gone would hide that its checks no longer run."""
    assert set(FIXTURES) <= set(connector_types()), set(FIXTURES) - set(connector_types())


def test_the_contract_covers_read_restart_recover_close_and_write() -> None:
    names = [check.__name__ for check in CONNECTOR_CHECKS]
    assert names == ["check_read", "check_restart", "check_recover", "check_close", "check_write"]
    assert all(check.__doc__ for check in CONNECTOR_CHECKS)
    assert check_connector.__doc__


async def test_a_registered_kind_without_a_fixture_fails(tmp_path: Path) -> None:
    check = CONNECTOR_CHECKS[0]
    with pytest.raises(pytest.fail.Exception, match="add a fixture for it"):
        await test_every_registered_connector_keeps_the_contract("no-such-kind", check, tmp_path)
