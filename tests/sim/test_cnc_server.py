"""The CNC simulator over real OPC UA on loopback, read by an asyncua client.

One server (module scope) serves the read/subscribe/write/history tests; security,
restart and port conflicts get their own servers. Its clock is shifted so the spindle is
roughing at 8000 rpm for the whole module.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from asyncua import Client, Node, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cnc_helpers import NS, clock_in

from shopfloor.errors import ConfigError
from shopfloor.model.timestamps import to_datetime
from shopfloor.sim.cnc import NODES, CncSimConfig, CncSimServer, ProgramState
from shopfloor.sim.cnc.config import ProgramConfig
from shopfloor.sim.cnc.nodes import NodeKind

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

LONG_ROUGHING = ProgramConfig(roughing_s=120.0)


def connect(url: str) -> Client:
    client = Client(url, timeout=10)
    client.session_timeout = 600_000  # the server's maximum; asyncua warns otherwise
    return client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CncSimServer]:
    folder = tmp_path_factory.mktemp("cnc")
    config = CncSimConfig(
        port=0,
        seed=3,
        program=LONG_ROUGHING,
        fault={"type": "outer_race", "onset": "0s", "growth_s": 60},
        sensor_faults=[{"signal": "Coolant.Temperature", "start": 0, "duration_s": 3600}],
        ground_truth_path=folder / "truth.json",
    )
    async with CncSimServer(config, clock_ns=clock_in(config, ProgramState.ROUGHING)) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def client(sim: CncSimServer) -> AsyncIterator[Client]:
    async with connect(sim.endpoint_url) as connected:
        yield connected


async def browse_variables(node: Node, prefix: str = "") -> dict[str, Node]:
    found: dict[str, Node] = {}
    for child in await node.get_children(refs=ua.ObjectIds.HasComponent):
        name = (await child.read_browse_name()).Name
        path = f"{prefix}.{name}" if prefix else name
        if await child.read_node_class() == ua.NodeClass.Variable:
            found[path] = child
        else:
            found |= await browse_variables(child, path)
    return found


class Collector:
    """asyncua subscription handler that queues data changes."""

    def __init__(self) -> None:
        self.values: asyncio.Queue[ua.DataValue] = asyncio.Queue()

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.values.put_nowait(data.monitored_item.Value)


async def collect(
    client: Client, node_id: str, n: int, timeout_s: float, queue_size: int = 0
) -> list[ua.DataValue]:
    handler = Collector()
    subscription = await client.create_subscription(100, handler)
    try:
        await subscription.subscribe_data_change(client.get_node(node_id), queuesize=queue_size)
        async with asyncio.timeout(timeout_s):
            return [await handler.values.get() for _ in range(n)]
    finally:
        await subscription.delete()


# --- address space ------------------------------------------------------------------


async def test_browse_finds_the_machine_tree_with_units(sim: CncSimServer, client: Client) -> None:
    objects = await client.nodes.objects.get_children()
    names = {(await o.read_browse_name()).Name: o for o in objects}
    assert "CNC01" in names
    variables = await browse_variables(names["CNC01"])
    assert set(variables) == {spec.name for spec in NODES}
    for spec in NODES:
        node = variables[spec.name]
        assert node.nodeid.to_string() == sim.node_id(spec.name)
        assert (await node.read_description()).Text == spec.description
        access = await node.read_attribute(ua.AttributeIds.UserAccessLevel)
        writable = bool(access.Value.Value & ua.AccessLevel.CurrentWrite.mask)
        assert writable == spec.writable
        if spec.unit:
            eu = await (await node.get_child("0:EngineeringUnits")).read_value()
            assert eu.DisplayName.Text == spec.unit
            assert eu.NamespaceUri == "http://www.opcfoundation.org/UA/units/un/cefact"
            assert eu.UnitId > 0
            eu_range = await (await node.get_child("0:EURange")).read_value()
            assert eu_range.Low < eu_range.High


async def test_node_ids_are_human_readable(sim: CncSimServer) -> None:
    assert sim.node_ids["Spindle.Speed"] == "ns=2;s=CNC01.Spindle.Speed"
    assert sim.node_ids["Vibration.AccelZ"] == "ns=2;s=CNC01.Vibration.AccelZ"
    assert sim.node_ids["Alarm.Active"] == "ns=2;s=CNC01.Alarm.Active"
    assert sim.endpoint_url.startswith("opc.tcp://127.0.0.1:")


async def test_sample_rate_and_program_values(sim: CncSimServer, client: Client) -> None:
    rate = await client.get_node(sim.node_id("Vibration.SampleRate")).read_value()
    assert rate == 25600.0
    state = await client.get_node(sim.node_id("Program.State")).read_value()
    assert state == "ROUGHING"
    assert await client.get_node(sim.node_id("Tool.Number")).read_value() == 1
    assert await client.get_node(sim.node_id("Program.Number")).read_value() == 1001


# --- subscriptions ------------------------------------------------------------------


async def test_spindle_speed_subscription_receives_changing_values(
    sim: CncSimServer, client: Client
) -> None:
    values = await collect(client, sim.node_id("Spindle.Speed"), 5, timeout_s=5)
    speeds = [dv.Value.Value for dv in values]
    assert len(set(speeds)) == 5
    assert all(7900 < s < 8100 for s in speeds)
    stamps = [dv.SourceTimestamp for dv in values]
    assert stamps == sorted(stamps)
    # the published value is the model's, at the source timestamp
    t_ns = round(stamps[-1].timestamp() * 10) * (NS // 10)
    assert speeds[-1] == sim.model.state_at(t_ns).node_values()["Spindle.Speed"]


async def test_vibration_arrays_arrive_once_per_block(sim: CncSimServer, client: Client) -> None:
    skipped_before = sim.blocks_skipped
    # a server-side queue, so a slow publish cycle on a loaded machine drops nothing; the
    # timeout only bounds a hang, it measures nothing
    values = await collect(client, sim.node_id("Vibration.AccelX"), 3, timeout_s=60, queue_size=10)
    stamps = [dv.SourceTimestamp for dv in values]
    steps = [(b - a) / timedelta(seconds=1) for a, b in itertools.pairwise(stamps)]
    assert all(step >= 1 and step == int(step) for step in steps), steps  # each block once
    # consecutive blocks, except where the server itself skipped blocks (it counts them)
    assert sum(step - 1 for step in steps) <= sim.blocks_skipped - skipped_before, steps
    for dv in values:
        assert dv.StatusCode.is_good()
        assert len(dv.Value.Value) == 25600
        assert dv.SourceTimestamp.microsecond == 0  # block starts are whole seconds
        index = round(dv.SourceTimestamp.timestamp())
        assert np.array_equal(np.array(dv.Value.Value), sim.model.block_data(index)[:, 0])


# --- write-back ---------------------------------------------------------------------


async def test_alarm_write_back_is_recorded(sim: CncSimServer, client: Client) -> None:
    before = len(sim.writes)
    await client.get_node(sim.node_id("Alarm.Message")).write_value("bearing: outer race")
    await client.get_node(sim.node_id("Alarm.Severity")).write_value(700, ua.VariantType.Int32)
    await client.get_node(sim.node_id("Alarm.Active")).write_value(True)
    record = await sim.wait_for_write("Alarm.Active", since=before, timeout_s=5)
    assert record.value is True and record.status == "Good"
    assert record.node_id == "ns=2;s=CNC01.Alarm.Active"
    assert [w.name for w in sim.writes[before:]] == [
        "Alarm.Message",
        "Alarm.Severity",
        "Alarm.Active",
    ]
    assert await client.get_node(sim.node_id("Alarm.Active")).read_value() is True
    assert sim.writes_log_path is not None
    logged = [json.loads(line) for line in sim.writes_log_path.read_text().splitlines()]
    assert logged[-1]["name"] == "Alarm.Active" and logged[-1]["value"] is True
    assert sim.ground_truth_path is not None
    truth = json.loads(sim.ground_truth_path.read_text())
    assert truth["writes"][-2]["value"] == 700


async def test_write_to_a_measured_value_is_refused_and_recorded(
    sim: CncSimServer, client: Client
) -> None:
    before = len(sim.writes)
    with pytest.raises(ua.UaStatusCodeError):
        await client.get_node(sim.node_id("Spindle.Speed")).write_value(1.0)
    record = await sim.wait_for_write("Spindle.Speed", since=before, timeout_s=5)
    assert record.status.startswith("Bad")


# --- history ------------------------------------------------------------------------


async def test_history_read_returns_past_values(sim: CncSimServer, client: Client) -> None:
    await asyncio.sleep(1.2)  # let some history accumulate
    now = to_datetime(sim.sim_time_ns())
    node = client.get_node(sim.node_id("Spindle.Speed"))
    values = await node.read_raw_history(now - timedelta(seconds=30), now)
    assert len(values) >= 10
    stamps = [dv.SourceTimestamp for dv in values]
    assert stamps == sorted(stamps) and stamps[0] < now - timedelta(seconds=1)
    steps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(stamps)}
    assert steps == {0.1}
    t_ns = round(stamps[3].timestamp() * 10) * (NS // 10)
    assert values[3].Value.Value == sim.model.state_at(t_ns).node_values()["Spindle.Speed"]
    accel = client.get_node(sim.node_id("Vibration.AccelY"))
    blocks = await accel.read_raw_history(now - timedelta(seconds=30), now)
    assert len(blocks) >= 2 and all(len(b.Value.Value) == 25600 for b in blocks)


async def test_history_keeps_a_value_published_again_unchanged(
    sim: CncSimServer, client: Client
) -> None:
    """Program.Number never changes: history still holds every tick, as a subscriber sees."""
    await asyncio.sleep(1.2)
    now = to_datetime(sim.sim_time_ns())
    node = client.get_node(sim.node_id("Program.Number"))
    values = await node.read_raw_history(now - timedelta(seconds=1), now)
    stamps = [dv.SourceTimestamp for dv in values]
    assert len(stamps) >= 9, stamps
    steps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(stamps)}
    assert steps == {0.1}
    assert {dv.Value.Value for dv in values} == {sim.config.program.number}


# --- sensor failures ----------------------------------------------------------------


async def test_sensor_failure_window_and_forced_status(sim: CncSimServer, client: Client) -> None:
    coolant = await client.get_node(sim.node_id("Coolant.Temperature")).read_data_value(
        raise_on_bad_status=False
    )
    assert coolant.StatusCode.value == ua.StatusCodes.BadSensorFailure
    assert coolant.Value.Value is None
    node = client.get_node(sim.node_id("Spindle.Temperature"))
    good = (await node.read_data_value()).Value.Value
    sim.set_sensor_status("Spindle.Temperature", "UncertainLastUsableValue")
    await asyncio.sleep(0.35)
    uncertain = await node.read_data_value(raise_on_bad_status=False)
    assert uncertain.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
    assert abs(uncertain.Value.Value - good) < 1.0
    sim.set_sensor_status("Spindle.Temperature", "BadSensorFailure")
    await asyncio.sleep(0.35)
    bad = await node.read_data_value(raise_on_bad_status=False)
    assert bad.StatusCode.value == ua.StatusCodes.BadSensorFailure
    sim.set_sensor_status("Spindle.Temperature", None)
    await asyncio.sleep(0.35)
    assert (await node.read_data_value()).StatusCode.is_good()


# --- ground truth -------------------------------------------------------------------


async def test_ground_truth_file_describes_the_run(sim: CncSimServer) -> None:
    assert sim.ground_truth_path is not None
    truth = json.loads(sim.ground_truth_path.read_text())
    assert truth["format"] == "shopfloor.sim.cnc.ground_truth/1"
    assert truth["endpoint_url"] == sim.endpoint_url
    assert truth["fault"]["type"] == "outer_race"
    assert truth["fault"]["onset_ns"] == sim.model.onset_ns
    assert truth["fault"]["defect_order"] == pytest.approx(sim.config.bearing.bpfo_order)
    assert truth["vibration"]["sample_rate_hz"] == 25600
    assert {k: v["node_id"] for k, v in truth["nodes"].items()} == sim.node_ids
    assert truth["sensor_faults"][0]["signals"] == ["Coolant.Temperature"]
    waveforms = [k for k, v in truth["nodes"].items() if v["kind"] == NodeKind.WAVEFORM]
    assert waveforms == ["Vibration.AccelX", "Vibration.AccelY", "Vibration.AccelZ"]


# --- lifecycle ----------------------------------------------------------------------


async def test_stop_then_start_on_the_same_port_continues(tmp_path: Path) -> None:
    config = CncSimConfig(port=0, seed=8, program=LONG_ROUGHING)
    sim = CncSimServer(config, clock_ns=clock_in(config, ProgramState.ROUGHING))
    await sim.start()
    try:
        url = sim.endpoint_url
        async with connect(url) as client:
            speed = client.get_node(sim.node_id("Spindle.Speed"))
            first = await speed.read_data_value()
        await sim.stop()
        assert not sim.running
        with pytest.raises(ConnectionRefusedError):  # really closed
            await asyncio.open_connection("127.0.0.1", sim.port)
        await sim.start()  # immediately, same port
        assert sim.endpoint_url == url
        async with connect(url) as client:
            speed = client.get_node(sim.node_id("Spindle.Speed"))
            second = await speed.read_data_value()
            assert second.SourceTimestamp > first.SourceTimestamp
            history = await speed.read_raw_history(first.SourceTimestamp, second.SourceTimestamp)
            assert history[0].SourceTimestamp == first.SourceTimestamp  # survived the restart
    finally:
        await sim.stop()


async def test_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sim = CncSimServer(CncSimConfig(port=port, history=False))
        with pytest.raises(ConfigError, match=str(port)):
            await sim.start()
        assert not sim.running


async def test_sign_and_encrypt_with_a_self_signed_client_certificate(tmp_path: Path) -> None:
    config = CncSimConfig(port=0, security="encrypt", pki_dir=tmp_path / "pki", history=False)
    async with CncSimServer(config) as sim:
        assert (tmp_path / "pki" / "server_cert.der").is_file()
        plain = connect(sim.endpoint_url)
        endpoints = await plain.connect_and_get_server_endpoints()
        assert {e.SecurityMode for e in endpoints} == {ua.MessageSecurityMode.SignAndEncrypt}
        with pytest.raises((ua.UaError, OSError, TimeoutError)):
            async with connect(sim.endpoint_url) as insecure:
                await insecure.get_node(sim.node_id("Spindle.Speed")).read_value()

        client = connect(sim.endpoint_url)
        client.application_uri = "urn:shopfloor:test:client"
        cert, key = await client.setup_self_signed_certificate(
            tmp_path / "client_key.pem", tmp_path / "client_cert.der", host_name="localhost"
        )
        await client.set_security(
            SecurityPolicyBasic256Sha256, str(cert), str(key),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )  # fmt: skip
        async with client:
            value = await client.get_node(sim.node_id("Vibration.SampleRate")).read_value()
        assert value == 25600.0


async def test_time_scale_runs_the_machine_faster() -> None:
    config = CncSimConfig(port=0, time_scale=6.0, history=False)
    async with CncSimServer(config) as sim:
        wall0, sim0 = sim._clock_ns(), sim.sim_time_ns()
        published0 = sim.blocks_published
        await asyncio.sleep(1.5)
        elapsed_wall = sim._clock_ns() - wall0
        assert sim.sim_time_ns() - sim0 == pytest.approx(6.0 * elapsed_wall, rel=0.01)
        assert sim.blocks_published - published0 >= 6
        assert sim.blocks_skipped == 0


async def test_unwritable_ground_truth_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = CncSimConfig(port=0, history=False, ground_truth_path=blocker / "truth.json")
    sim = CncSimServer(config)
    with pytest.raises(ConfigError, match="ground_truth_path"):
        await sim.start()
    assert not sim.running
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", sim.port)


async def make_client_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed client certificate for application ``urn:shopfloor:test:<name>``."""
    client = connect("opc.tcp://127.0.0.1:4840")  # only its application URI is used
    client.application_uri = f"urn:shopfloor:test:{name}"
    return await client.setup_self_signed_certificate(
        folder / f"{name}_key.pem", folder / f"{name}_cert.der", host_name="localhost"
    )


async def secure_client(url: str, folder: Path, name: str) -> Client:
    cert, key = await make_client_certificate(folder, name)
    client = connect(url)
    client.application_uri = f"urn:shopfloor:test:{name}"
    await client.set_security(
        SecurityPolicyBasic256Sha256, str(cert), str(key), mode=ua.MessageSecurityMode.Sign
    )
    return client


async def test_trust_dir_admits_only_trusted_client_certificates(tmp_path: Path) -> None:
    trust = tmp_path / "trusted"
    trust.mkdir()
    cert, _ = await make_client_certificate(tmp_path, "trusted")
    (trust / cert.name).write_bytes(cert.read_bytes())
    config = CncSimConfig(
        port=0, security="sign", pki_dir=tmp_path / "pki", trust_dir=trust, history=False
    )
    async with CncSimServer(config) as sim:
        trusted = await secure_client(sim.endpoint_url, tmp_path, "trusted")
        async with trusted:
            assert await trusted.get_node(sim.node_id("Program.Number")).read_value() == 1001
        stranger = await secure_client(sim.endpoint_url, tmp_path, "stranger")
        with pytest.raises(ua.UaError, match="BadCertificateUntrusted"):
            async with stranger:
                await stranger.get_node(sim.node_id("Program.Number")).read_value()


async def test_empty_trust_dir_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "trusted").mkdir()
    config = CncSimConfig(
        port=0, security="sign", pki_dir=tmp_path / "pki", trust_dir=tmp_path / "trusted"
    )
    with pytest.raises(ConfigError, match="holds no client certificate"):
        await CncSimServer(config).start()
