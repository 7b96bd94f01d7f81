"""Writing back over OPC UA, typed by the server: a plain asyncua server and the CNC simulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback

from shopfloor.connectors.base import Writable
from shopfloor.connectors.opcua.client import OpcUaConnector
from shopfloor.connectors.opcua.config import OpcUaConfig
from shopfloor.errors import ConnectorNotReady, WriteNotVerified, WriteRefused
from shopfloor.sim.cnc import CncSimConfig, CncSimServer

from .opcua_env import free_port
from .test_opcua_gaps import Recorder

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NS_URI = "urn:example:plain-plc"
V = ua.VariantType
WRITABLE = {
    "Flag": (False, V.Boolean),
    "Count": (0, V.Int16),
    "Code": (0, V.Byte),
    "Level": (0.0, V.Double),
    "Text": ("", V.String),
    "Sticky": (0.0, V.Double),
}


@dataclass
class Plain:
    """A minimal OPC UA server with nothing of shopfloor in it."""

    server: Server
    url: str
    ns: int
    writes: list[str] = field(default_factory=list)

    def node(self, name: str) -> str:
        return f"ns={self.ns};s=PLC.{name}"


@pytest.fixture
async def plain() -> AsyncIterator[Plain]:
    server = Server()
    await server.init()
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    server.set_endpoint(url)
    ns = await server.register_namespace(NS_URI)
    plc = await server.nodes.objects.add_object(ua.NodeId("PLC", ns), ua.QualifiedName("PLC", ns))
    for name, (value, vtype) in WRITABLE.items():
        var = await plc.add_variable(
            ua.NodeId(f"PLC.{name}", ns), ua.QualifiedName(name, ns), ua.Variant(value, vtype)
        )
        await var.set_writable()
    await plc.add_variable(
        ua.NodeId("PLC.ReadOnly", ns), ua.QualifiedName("ReadOnly", ns), ua.Variant(1.0, V.Double)
    )
    array = await plc.add_variable(
        ua.NodeId("PLC.Array", ns),
        ua.QualifiedName("Array", ns),
        ua.Variant([1.0, 2.0], V.Double, is_array=True),
    )
    await array.write_attribute(ua.AttributeIds.ValueRank, ua.DataValue(ua.Variant(1, V.Int32)))
    await array.set_writable()
    env = Plain(server, url, ns)
    sticky = ua.NodeId("PLC.Sticky", ns)

    async def on_write(event: ServerItemCallback, _: Any) -> None:
        if not event.is_external:
            return  # the server's own clock and status
        for write in event.request_params.NodesToWrite:
            env.writes.append(write.NodeId.to_string())
            if write.NodeId == sticky:  # a machine that overrides what it is told
                await server.write_attribute_value(sticky, ua.DataValue(ua.Variant(-1.0, V.Double)))

    server.subscribe_server_callback(CallbackType.PostWrite, on_write)
    async with server:
        yield env


@contextlib.asynccontextmanager
async def connected(url: str, tmp_path: Path) -> AsyncIterator[OpcUaConnector]:
    """A connector with no signals bound: write-back only."""
    conn = OpcUaConnector(
        OpcUaConfig(name="plc", endpoint=url, request_timeout_s=3), [], Recorder(tmp_path).context
    )
    await conn.connect()
    try:
        yield conn
    finally:
        await conn.close()


async def read(url: str, node_id: str) -> Any:
    """The value of a node, read by a client of the test's own."""
    client = Client(url)
    async with client:
        return await client.get_node(node_id).read_value()


async def test_values_are_written_as_the_server_types_them_and_read_back(
    plain: Plain, tmp_path: Path
) -> None:
    cases = {
        "Flag": (1, True),
        "Count": ("-5", -5),
        "Code": (255.0, 255),
        "Level": (2, 2.0),
        "Text": ("spindle anomaly", "spindle anomaly"),
    }
    async with connected(plain.url, tmp_path) as conn:
        assert isinstance(conn, Writable)
        for name, (given, expected) in cases.items():
            assert await conn.write(plain.node(name), given) == expected
    for name, (_, expected) in cases.items():
        value = await read(plain.url, plain.node(name))
        assert value == expected and type(value) is type(expected), name


async def test_a_browse_path_finds_the_node(plain: Plain, tmp_path: Path) -> None:
    async with connected(plain.url, tmp_path) as conn:
        assert await conn.write(f"{plain.ns}:PLC/Flag", True) is True
        assert await conn.write("Objects/PLC/Level", 0.25) == 0.25
        with pytest.raises(WriteRefused, match="has no child 'Nope'"):
            await conn.write("PLC/Nope", 1)
    assert await read(plain.url, plain.node("Level")) == 0.25


async def test_what_does_not_fit_is_refused_before_anything_is_written(
    plain: Plain, tmp_path: Path
) -> None:
    async with connected(plain.url, tmp_path) as conn:
        with pytest.raises(WriteRefused, match=r"2.5 does not fit a Boolean"):
            await conn.write(plain.node("Flag"), 2.5)
        with pytest.raises(WriteRefused, match=r"300 does not fit a Byte \(0..255\)"):
            await conn.write(plain.node("Code"), 300)
        with pytest.raises(WriteRefused, match="not writable"):
            await conn.write(plain.node("ReadOnly"), 2.0)
        with pytest.raises(WriteRefused, match="holds an array"):
            await conn.write(plain.node("Array"), 2.0)
        with pytest.raises(WriteRefused, match="BadNodeIdUnknown"):
            await conn.write(plain.node("Missing"), 1)
    assert plain.writes == []
    assert await read(plain.url, plain.node("Code")) == 0


async def test_a_value_the_server_does_not_keep_is_not_verified(
    plain: Plain, tmp_path: Path
) -> None:
    async with connected(plain.url, tmp_path) as conn:
        with pytest.raises(WriteNotVerified, match=r"read back -1.0 twice"):
            await conn.write(plain.node("Sticky"), 3.0)
    assert plain.writes == [plain.node("Sticky")] * 2  # written once more, then given up


async def test_a_connector_that_is_not_connected_is_not_ready(tmp_path: Path) -> None:
    conn = OpcUaConnector(
        OpcUaConfig(name="plc", endpoint="opc.tcp://127.0.0.1:1"), [], Recorder(tmp_path).context
    )
    with pytest.raises(ConnectorNotReady, match="'plc' is not connected"):
        await conn.write("ns=2;s=X", True)


async def test_the_simulators_alarm_nodes(tmp_path: Path) -> None:
    async with CncSimServer(CncSimConfig(port=0, history=False)) as sim:
        async with connected(sim.endpoint_url, tmp_path) as conn:
            assert await conn.write(sim.node_id("Alarm.Active"), "true") is True
            assert await conn.write(sim.node_id("Alarm.Severity"), 800.0) == 800
            assert await conn.write(sim.node_id("Alarm.Message"), "bearing wear") == "bearing wear"
            with pytest.raises(WriteRefused, match="not writable"):
                await conn.write(sim.node_id("Spindle.Speed"), 0)
        assert await read(sim.endpoint_url, sim.node_id("Alarm.Active")) is True
        assert [(w.name, w.value) for w in sim.writes] == [
            ("Alarm.Active", True),
            ("Alarm.Severity", 800),
            ("Alarm.Message", "bearing wear"),
        ]
