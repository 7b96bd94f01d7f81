"""The platform against the simulated Modbus device over real Modbus TCP on loopback."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.api.server import api_server_factory
from shopfloor.config import load_project
from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.modbus.client import ModbusConnector
from shopfloor.connectors.modbus.config import ModbusConfig
from shopfloor.connectors.modbus.values import Layout, encode
from shopfloor.errors import ConfigError, ConnectorError
from shopfloor.model import (
    DeadLetter,
    EventRecord,
    Quality,
    Record,
    ScalarBatch,
    Signal,
    SignalRef,
    now_ns,
)
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.sim.modbus import ModbusSimConfig, ModbusSimServer
from tests.faults.env import until

pytestmark = [pytest.mark.integration]

ASSET = "acme/plant1/packaging/line1/cell1/press-01"
ORDERS = ("big", "little")
NUMBERS: dict[str, int | float] = {
    "int16": -12345,
    "uint16": 54321,
    "int32": -123456789,
    "uint32": 3_000_000_123,
    "int64": -(2**40) - 7,  # exact in the store's float64
    "float32": -1234.5,
    "float64": 98765.4321,
}
HOLE = (1500, 1510)
"""Holding registers the device does not have."""


def ref(name: str) -> SignalRef:
    return SignalRef(ASSET, name)


class Device:
    """What the test writes into the simulated device, and what the store must then hold."""

    def __init__(self) -> None:
        self.signals: list[dict[str, Any]] = []
        self.writes: list[tuple[str, int, list[int]]] = []
        self.expected: dict[str, float] = {}
        self.events: dict[str, str] = {}
        self.next = 100

    def registers(self, name: str, values: list[int], options: dict[str, Any], kind: str) -> str:
        address = self.next
        self.next += len(values) + 1  # one unused register between tags: still one block
        self.writes.append(("holding", address, values))
        signal: dict[str, Any] = {"name": name, "connector": "plc", "source": f"holding:{address}"}
        if kind == "event":
            signal["kind"] = "event"
        if options:
            signal["source_options"] = options
        self.signals.append(signal)
        return str(signal["source"])


def device_with_every_type() -> Device:
    device = Device()
    for kind, value in NUMBERS.items():
        for byte_order in ORDERS:
            for word_order in ORDERS:
                layout = Layout(kind, byte_order, word_order)  # type: ignore[arg-type]
                name = f"{kind}_{byte_order}_{word_order}"
                options: dict[str, Any] = {"type": kind, "byte_order": byte_order}
                options["word_order"] = word_order
                device.registers(name, encode(value, layout), options, "scalar")
                device.expected[name] = float(value)
    for byte_order in ORDERS:  # strings: word order reverses the registers, too
        for word_order in ORDERS:
            layout = Layout("string", byte_order, word_order, count=5)  # type: ignore[arg-type]
            name = f"text_{byte_order}_{word_order}"
            text_options = {"type": "string", "count": 5, "byte_order": byte_order}
            text_options["word_order"] = word_order
            device.registers(name, encode("PRESS-7", layout), text_options, "event")
            device.events[name] = "PRESS-7"
    # scale and offset: raw 215 -> 11.5
    device.registers("scaled", [215], {"type": "int16", "scale": 0.1, "offset": -10}, "scalar")
    device.expected["scaled"] = 215 * 0.1 - 10
    # a register read as bool, one read as bits
    device.registers("bool_register", [7], {"type": "bool"}, "scalar")
    device.expected["bool_register"] = 1.0
    source = device.registers("status_word", [0b0010_0000], {}, "scalar")
    device.signals[-1]["source_options"] = {}
    device.expected["status_word"] = 32.0
    device.signals.append({"name": "status_bit5", "connector": "plc", "source": f"{source}.5"})
    device.signals.append({"name": "status_bit4", "connector": "plc", "source": f"{source}.4"})
    device.expected |= {"status_bit5": 1.0, "status_bit4": 0.0}
    # other tables, another unit, another polling group
    device.writes += [("coil", 3, [1]), ("discrete", 9, [1]), ("input", 20, [0x0000, 0x4120])]
    device.signals += [
        {"name": "gate", "connector": "plc", "source": "coil:3"},
        {"name": "door_closed", "connector": "plc", "source": "discrete:9@3"},
        {
            "name": "oil_temp",
            "unit": "degC",
            "connector": "plc",
            "source": "input:20",
            "source_options": {"type": "float32", "word_order": "little", "group": "fast"},
        },
    ]
    device.expected |= {"gate": 1.0, "door_closed": 1.0, "oil_temp": 10.0}
    # a NaN float: stored with bad quality
    nan = encode(math.nan, Layout("float32"))
    device.registers("sensor_fault", nan, {"type": "float32"}, "scalar")
    # around the hole: one merged read that the device refuses, then read tag by tag
    device.writes += [("holding", 1495, [11]), ("holding", 1511, [22])]
    device.signals += [
        {"name": "before_hole", "connector": "plc", "source": "holding:1495"},
        {"name": "in_hole", "connector": "plc", "source": "holding:1505"},
        {"name": "after_hole", "connector": "plc", "source": "holding:1511"},
        {"name": "from_map", "connector": "plc", "source": "line_speed"},
    ]
    device.writes.append(("holding", 1600, [1500]))
    device.expected |= {"before_hole": 11.0, "after_hole": 22.0, "from_map": 150.0}
    return device


def project_file(folder: Path, port: int, device: Device) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "map.csv").write_text(
        "name,address,type,scale\n# the line's speed in m/min\nline_speed,holding:1600,uint16,0.1\n"
    )
    config = {
        "project": {"name": "modbus-test"},
        "api": {"port": 0},
        "assets": [{"path": ASSET, "signals": device.signals}],
        "connectors": [
            {
                "name": "plc",
                "type": "modbus",
                "host": "127.0.0.1",
                "port": port,
                "timeout_s": 1.0,
                "poll_interval_ms": 100,
                "groups": {"fast": {"interval_ms": 50}},
                "max_gap_registers": 20,
                "register_map": "map.csv",
                "reconnect": {"initial_s": 0.1, "max_s": 0.5},
            }
        ],
    }
    (folder / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def platform_for(folder: Path) -> Platform:
    project: Any = load_project(folder)
    return Platform.from_project(
        project, api=api_server_factory(project, port=0), services=project_services(project)
    )


async def test_every_type_byte_order_and_word_order_is_read_into_the_store(
    tmp_path: Path,
) -> None:
    device = device_with_every_type()
    async with ModbusSimServer(ModbusSimConfig(period_s=0, registers=2000, holes=(HOLE,))) as sim:
        for table, address, values in device.writes:
            await sim.write(table, address, values)
        platform = platform_for(project_file(tmp_path / "plant", sim.port, device))
        await platform.start()
        store = platform.store
        try:
            names = [*device.expected, *device.events, "sensor_fault"]

            async def all_stored() -> bool:
                counts = [await store.count(ref(n)) for n in names]
                return all(counts) and await store.count_dead_letters(source="plc") >= 1

            await until(all_stored, 30, "a value of every signal and the dead letter")
            end = now_ns() + 10**10
            for name, value in device.expected.items():
                table = await store.read_scalars(ref(name), 0, end)
                got = table.column("value").to_pylist()[-1]
                assert got == pytest.approx(value, rel=1e-12), name
                assert set(table.column("quality").to_pylist()) == {Quality.GOOD}, name
            events = await store.read_events(0, end, asset=ASSET, kind="value_change")
            texts = {e.signal.name: e.message for e in events}
            assert {n: texts.get(n) for n in device.events} == device.events
            fault = await store.read_scalars(ref("sensor_fault"), 0, end)
            assert math.isnan(fault.column("value").to_pylist()[-1])
            assert set(fault.column("quality").to_pylist()) == {Quality.BAD}
            # the one tag the device does not have: one dead letter, the rest keeps going
            letters = await store.read_dead_letters(source="plc")
            assert len(letters) == 1, letters
            assert letters[0].location == "holding:1505"
            assert "holding:1505@1" in letters[0].reason
            assert "exception 2 (illegal data address)" in letters[0].reason
            before = await store.count(ref("before_hole"))
            await until(
                lambda: _more(store, "before_hole", before), 10, "polling after the dead letter"
            )
            health = (await platform.status())["services"]["connectors"]["plc"]
            assert health["state"] == "connected"
            assert health["signals"]["in_hole"]["state"] == "error"
            assert health["signals"]["after_hole"]["state"] == "ok"
            assert await store.count_dead_letters(source="plc") == 1  # not once per poll
        finally:
            await platform.stop()


async def _more(store: Any, name: str, than: int) -> bool:
    return bool(await store.count(ref(name)) > than)


async def test_a_bad_register_map_row_fails_the_connector_naming_file_line_and_column(
    tmp_path: Path,
) -> None:
    folder = project_file(tmp_path / "plant", 1, Device())
    (folder / "map.csv").write_text("name,address,type\nspeed,holding:0,uint16\nx,input:1,flaot\n")
    platform = platform_for(folder)
    await platform.start()
    try:

        async def failed() -> bool:
            status = await platform.status()
            return bool(status["services"]["connectors"]["plc"]["health"] == "failed")

        await until(failed, 10, "the connector to fail")
        health = (await platform.status())["services"]["connectors"]["plc"]
        assert f"{folder / 'map.csv'}:3:3: column 'type'" in health["reason"]
    finally:
        await platform.stop()


# -- the connector on its own: writes and read-back ------------------------------------------


class Collected:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.letters: list[DeadLetter] = []

    async def emit(self, records: Any) -> None:
        self.records.extend(records)

    async def reject(self, letters: Any) -> None:
        self.letters.extend(letters)


def bound(
    name: str, source: str, options: dict[str, Any] | None = None, kind: str = "scalar"
) -> BoundSignal:
    return BoundSignal(ref(name), Signal(name=name, kind=kind), source, options or {})


async def test_writes_coils_registers_and_bits_and_reads_them_back(tmp_path: Path) -> None:
    async with ModbusSimServer(ModbusSimConfig(period_s=0, holes=((50, 60),))) as sim:
        config = ModbusConfig(name="plc", host="127.0.0.1", port=sim.port, timeout_s=1.0)
        out = Collected()
        signals = [
            bound("setpoint", "holding:10", {"type": "float32", "word_order": "little"}),
            bound("speed", "holding:12", {"type": "int16", "scale": 0.1}),
            bound("recipe", "holding:20", {"type": "string", "count": 4}, "event"),
        ]
        context = ConnectorContext(tmp_path, out.emit, out.reject, root=tmp_path)
        connector = ModbusConnector(config, signals, context)
        await connector.connect()
        try:
            assert await connector.write("holding:10", 42.25) == 42.25
            assert await sim.read("holding", 10, 2) == [0x0000, 0x4229]
            assert await connector.write("holding:12", -12.3) == pytest.approx(-12.3)
            assert await sim.read("holding", 12) == [0x10000 - 123]
            assert await connector.write("holding:20", "AB-12") == "AB-12"
            assert await connector.write("coil:0", True) is True
            assert await sim.read("coil", 0) == [1]
            await sim.write("holding", 30, [0b1000])
            assert await connector.write("holding:30.0", 1) is True
            assert await sim.read("holding", 30) == [0b1001]  # the other bits are kept
            for address, value, match in [
                ("input:0", 1, "input is read-only"),
                ("discrete:0", True, "discrete is read-only"),
                ("holding:12", 4000.0, "does not fit int16"),
                ("holding:20", "TOO-LONG-TEXT", "4 registers hold 8"),
                ("holding:55", 1, r"holding:55@1 on 127\.0\.0\.1:\d+: exception 2"),
            ]:
                with pytest.raises(ConnectorError, match=match):
                    await connector.write(address, value)
            with pytest.raises(ConfigError, match="'nowhere:1'"):
                await connector.write("nowhere:1", 1)
        finally:
            await connector.close()
            await connector.close()


async def test_a_merged_read_the_device_refuses_is_read_tag_by_tag(tmp_path: Path) -> None:
    async with ModbusSimServer(ModbusSimConfig(period_s=0, holes=((50, 60),))) as sim:
        await sim.write("holding", 45, [1])
        await sim.write("holding", 61, [2])
        config = ModbusConfig(
            name="plc", host="127.0.0.1", port=sim.port, max_gap_registers=20, timeout_s=1.0
        )
        out = Collected()
        signals = [bound("a", "holding:45"), bound("b", "holding:61")]
        connector = ModbusConnector(
            config, signals, ConnectorContext(tmp_path, out.emit, out.reject)
        )
        await connector.connect()
        try:
            deadline = time.monotonic() + 10
            while {r.signal.name for r in out.records} != {"a", "b"}:
                assert time.monotonic() < deadline, out.letters
                await asyncio.sleep(0.05)
        finally:
            await connector.close()
        assert not out.letters
        values = {r.signal.name: r.values[0] for r in out.records if isinstance(r, ScalarBatch)}
        assert values == {"a": 1.0, "b": 2.0}
        assert connector.stats["requests"] >= 3  # the merged read, then one per tag


def test_a_string_tag_needs_an_event_signal(tmp_path: Path) -> None:
    config = ModbusConfig(name="plc", host="127.0.0.1")
    out = Collected()
    context = ConnectorContext(tmp_path, out.emit, out.reject)
    with pytest.raises(ConfigError, match="kind: event"):
        ModbusConnector(config, [bound("t", "holding:0", {"type": "string", "count": 2})], context)
    with pytest.raises(ConfigError, match=r"connector 'plc': source 'holding:0\.1'.*float32"):
        ModbusConnector(config, [bound("t", "holding:0.1", {"type": "float32"})], context)


async def test_the_stretch_since_the_last_stored_value_is_a_gap_event(tmp_path: Path) -> None:
    """Modbus keeps no history: what the store lacks since its last value is recorded."""
    async with ModbusSimServer(ModbusSimConfig(period_s=0)) as sim:
        config = ModbusConfig(
            name="plc", host="127.0.0.1", port=sim.port, poll_interval_ms=50, flush_interval_ms=20
        )
        out = Collected()
        last = now_ns() - 60 * 10**9
        context = ConnectorContext(
            tmp_path, out.emit, out.reject, resume={ref("a"): last, ref("b"): now_ns()}
        )
        connector = ModbusConnector(
            config, [bound("a", "holding:0"), bound("b", "holding:1")], context
        )
        await connector.connect()
        try:
            await until(lambda: _has_values(out, {"a", "b"}), 10, "values of both signals")
        finally:
            await connector.close()
        gaps = [r for r in out.records if isinstance(r, EventRecord) and r.kind == "gap"]
        assert [g.signal.name for g in gaps] == ["a"]  # b's last value is recent
        assert gaps[0].attributes["from_ns"] == last
        assert gaps[0].attributes["seconds"] >= 60
        assert "Modbus keeps no history" in gaps[0].message


async def _has_values(out: Collected, names: set[str]) -> bool:
    return {r.signal.name for r in out.records if isinstance(r, ScalarBatch)} >= names
