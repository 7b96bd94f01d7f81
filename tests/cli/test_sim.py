"""`shopfloor sim ...`: simulators start, stop on time and report errors as every command does."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app


def test_port_in_use_is_a_lowercase_error_naming_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["sim", "cnc", "--port", str(port), "--duration", "1s", "--quiet"]
        )
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and str(port) in result.output
    assert "Error:" not in result.output


def test_sim_modbus_serves_until_its_duration_and_refuses_a_bad_one() -> None:
    result = CliRunner().invoke(app, ["sim", "modbus", "--port", "0", "--duration", "0.2s"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("READY 127.0.0.1:")
    bad = CliRunner().invoke(app, ["sim", "modbus", "--duration", "soon"])
    assert bad.exit_code == 2 and "--duration" in bad.output


@pytest.mark.integration
async def test_sim_sparkplug_births_publishes_and_dies_on_the_broker(broker: int) -> None:
    import aiomqtt

    topics: list[str] = []
    async with aiomqtt.Client("127.0.0.1", broker) as client:
        await client.subscribe("spBv1.0/#")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shopfloor.cli.main",
            "sim",
            "sparkplug",
            "--broker",
            f"127.0.0.1:{broker}",
            "--period",
            "0.1",
            "--duration",
            "1s",
            stdout=asyncio.subprocess.PIPE,
        )

        async def collect() -> None:
            async for message in client.messages:
                topics.append(str(message.topic))
                if message.topic.matches("spBv1.0/+/NDEATH/#"):
                    return

        await asyncio.wait_for(collect(), timeout=30)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0
    assert out.decode().startswith("READY spBv1.0/Line1/+/press-gw")
    kinds = {t.split("/")[2] for t in topics}
    assert {"NBIRTH", "DBIRTH", "NDEATH"} <= kinds and kinds & {"NDATA", "DDATA"}


def test_sim_sparkplug_names_an_unreachable_broker() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = CliRunner().invoke(
        app, ["sim", "sparkplug", "--broker", f"127.0.0.1:{port}", "--duration", "1s"]
    )
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.output
