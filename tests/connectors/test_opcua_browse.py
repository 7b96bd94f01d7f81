"""Browse, search and export a server's tags; OPC UA values fuzzed into records."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.config import load_project
from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.opcua.browse import (
    BrowsedNode,
    nodes_to_signals,
    signal_name,
    signals_yaml,
)
from shopfloor.connectors.opcua.values import scalar_value, to_event, to_waveform
from shopfloor.model import Provenance, Quality, Signal, SignalRef
from shopfloor.sim.cnc import CncSimConfig, CncSimServer

from .opcua_env import free_port


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shopfloor.cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            "COLUMNS": "250",
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            # the code under test, also when it is not the installed copy
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.integration
async def test_browse_search_and_export_to_a_valid_project(tmp_path: Path) -> None:
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        code, out, err = await cli("opcua", "browse", sim.endpoint_url, "--json")
        assert code == 0, err
        nodes = json.loads(out)
        paths = {n["path"] for n in nodes}
        assert "CNC01/Spindle/Speed" in paths and "CNC01/Vibration/AccelX" in paths
        assert not any(p.endswith("EngineeringUnits") for p in paths)  # properties left out
        speed = next(n for n in nodes if n["path"] == "CNC01/Spindle/Speed")
        assert speed["unit"] == "rpm" and speed["historizing"] is True
        code, out, _ = await cli(
            "opcua", "browse", sim.endpoint_url, "--search", "temperature", "--json"
        )
        assert {n["path"] for n in json.loads(out)} == {
            "CNC01/Spindle/Temperature",
            "CNC01/Coolant/Temperature",
        }
        export = tmp_path / "signals.yaml"
        code, _, err = await cli(
            "opcua",
            "browse",
            sim.endpoint_url,
            "--search",
            "Spindle",
            "--export",
            str(export),
            "--connector",
            "cnc",
        )
        assert code == 0, err
        signals = yaml.safe_load(export.read_text())
        assert {s["name"] for s in signals} >= {"spindle_speed", "spindle_load"}
        assert all(s["connector"] == "cnc" and s["source"].startswith("ns=2;s=") for s in signals)
        # the export pastes into a project that validates
        project = {
            "project": {"name": "x"},
            "assets": [
                {
                    "path": "acme/p/a/l/c/cnc01",
                    "signals": [s for s in signals if s["kind"] != "waveform"],
                }
            ],
            "connectors": [{"name": "cnc", "type": "opcua", "endpoint": sim.endpoint_url}],
        }
        (tmp_path / "factory.yaml").write_text(yaml.safe_dump(project))
        assert len(load_project(tmp_path).config.assets[0].signals) >= 3
        code, out, _ = await cli(
            "opcua", "browse", sim.endpoint_url, "--export", str(tmp_path / "tags.csv")
        )
        assert code == 0 and (tmp_path / "tags.csv").read_text().startswith("node_id,path")


@pytest.mark.integration
async def test_browse_errors_name_the_input() -> None:
    code, _, err = await cli(
        "opcua", "browse", f"opc.tcp://127.0.0.1:{free_port()}", "--timeout", "1"
    )
    assert code == 1 and "127.0.0.1" in err
    # a port that completes the TCP handshake (backlog) and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        code, _, err = await cli("opcua", "browse", f"opc.tcp://127.0.0.1:{port}", "--timeout", "1")
    assert code == 1
    assert f"no answer from opc.tcp://127.0.0.1:{port} within 1 s" in err, err
    assert "asyncua" not in err and "Traceback" not in err, err
    code, _, err = await cli("opcua", "browse", "http://x", "--security", "bad")
    assert code == 2 and "--security" in err
    code, _, err = await cli("opcua", "browse", "http://127.0.0.1:1")
    assert code == 2 and "opc.tcp" in err


@pytest.mark.integration
async def test_browse_without_a_matching_endpoint_says_what_the_server_offers() -> None:
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        code, _, err = await cli("opcua", "browse", sim.endpoint_url, "--security", "encrypt")
    assert code == 1
    assert "Basic256Sha256/SignAndEncrypt" in err and "it offers None/None" in err, err


def test_signal_names_from_browse_paths() -> None:
    assert signal_name("CNC01/Spindle/Speed") == "spindle_speed"
    assert signal_name("PLC/Line 3/MotorCurrent") == "line_3_motor_current"
    assert signal_name("Speed") == "speed"
    # one rule: the top-level object is dropped at every depth
    assert signal_name("CNC01/Speed") == "speed"
    assert signal_name("CNC01/Axes/X/Position") == "axes_x_position"


def test_export_keeps_writable_nodes_and_says_what_it_skipped() -> None:
    nodes = [
        BrowsedNode("ns=2;s=M.Setpoint", "M/Setpoint", "Variable", "Double", -1, writable=True),
        BrowsedNode("ns=2;s=M.Speed", "M/Speed", "Variable", "Double", -1, writable=True),
        BrowsedNode("ns=2;s=M.Blob", "M/Blob", "Variable", "ByteString", -1),
        BrowsedNode("ns=2;s=M.Names", "M/Names", "Variable", "String", 1),
        BrowsedNode("ns=2;s=M", "M", "Object"),
    ]
    export = nodes_to_signals(nodes, "plc")
    assert [s["name"] for s in export.signals] == ["setpoint", "speed"]
    assert export.skipped == [
        ("M/Blob", "ByteString is not a number or text"),
        ("M/Names", "an array of String is not a number or text"),
    ]
    text = signals_yaml(export)
    assert "# skipped M/Blob: ByteString is not a number or text" in text
    assert yaml.safe_load(text) == export.signals


@pytest.mark.integration
async def test_waveform_export_has_rate_and_block_length(tmp_path: Path) -> None:
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        export = tmp_path / "signals.yaml"
        code, _, err = await cli(
            "opcua", "browse", sim.endpoint_url, "--search", "Vibration", "--export", str(export)
        )
        assert code == 0, err
        signals = {s["name"]: s for s in yaml.safe_load(export.read_text())}
        accel = signals["vibration_accel_x"]
        assert accel["kind"] == "waveform"
        assert accel["sample_rate_hz"] == sim.config.sample_rate_hz
        assert accel["source_options"] == {"samples_per_block": sim.config.block_samples}
        # writable set points are exported (bound read-only) unless asked otherwise
        code, _, err = await cli(
            "opcua", "browse", sim.endpoint_url, "--search", "Alarm", "--export", str(export)
        )
        assert code == 0, err
        assert {s["name"] for s in yaml.safe_load(export.read_text())} == {
            "alarm_active",
            "alarm_message",
            "alarm_severity",
            "alarm_code",
        }
        code, _, err = await cli(
            "opcua",
            "browse",
            sim.endpoint_url,
            "--search",
            "Alarm",
            "--export",
            str(export),
            "--no-include-writable",
        )
        assert code == 0, err
        assert yaml.safe_load(export.read_text()) == []
        assert "skipped CNC01/Alarm/Active: writable" in err


REF = SignalRef("acme/p/a/l/c/m", "x")
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.lists(st.one_of(st.floats(), st.integers(), st.text(max_size=3)), max_size=20),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)


@given(values, st.sampled_from(list(Quality)))
@settings(max_examples=300, deadline=None)
def test_any_value_becomes_a_record_or_a_reason(value: Any, quality: Quality) -> None:
    number, reason = scalar_value(value, quality)
    assert (number is None) != (reason is None)
    if number is not None:
        assert isinstance(number, float)
        if not math.isfinite(number):
            # NaN stands for a missing value under bad quality; otherwise the value itself
            # was not finite (a float or a text such as "inf")
            assert (value is None and quality == Quality.BAD) or not math.isfinite(float(value))
    bound = BoundSignal(REF, Signal(name="x", kind="waveform", sample_rate_hz=100.0), "n")
    block, why = to_waveform(bound, value, 0, 100.0, Provenance("t"), quality, 0)
    assert (block is None) != (why is None)
    if block is not None:
        assert block.data.ndim == 1 and block.data.size > 0 and block.data.dtype == np.float64
    event = to_event(
        BoundSignal(REF, Signal(name="x", kind="event"), "n"), value, 0, Provenance("t"), quality
    )
    json.dumps(dict(event.attributes), default=str)
