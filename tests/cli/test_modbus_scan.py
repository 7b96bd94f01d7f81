"""``shopfloor modbus scan`` against the simulated Modbus device on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.sim.modbus import ModbusSimConfig, ModbusSimServer
from tests.connectors.opcua_env import free_port

pytestmark = [pytest.mark.integration]


@pytest.fixture
def device() -> Iterator[int]:
    """The simulated device in a thread of its own (the CLI runs its own event loop)."""
    loop = asyncio.new_event_loop()
    sim = ModbusSimServer(ModbusSimConfig(period_s=0, registers=40, holes=((10, 20),)))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def fill() -> None:
        await sim.start()
        await sim.write("holding", 0, [0x4120, 0x0000, 0xFFFE])  # 10.0 (ABCD), -2
        await sim.write("coil", 2, [True])

    asyncio.run_coroutine_threadsafe(fill(), loop).result(10)
    try:
        yield sim.port
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_scan_shows_what_answers_and_exports_it(
    device: int, runner: CliRunner, tmp_path: Path
) -> None:
    export = tmp_path / "signals.yaml"
    args = ["modbus", "scan", f"127.0.0.1:{device}", "--count", "30", "--unit", "3"]
    result = runner.invoke(app, [*args, "--export", str(export), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    addresses = [a["address"] for a in found]
    assert addresses == [*range(10), *range(20, 30)]  # 10..19 refused: halved away
    assert found[0]["float32"] == 10.0 and found[2]["int16"] == -2
    assert found[0]["unit"] == 3
    signals = yaml.safe_load(export.read_text())
    assert signals[0] == {
        "name": "holding_0_u3",
        "connector": "modbus",
        "source": "holding:0@3",
        "source_options": {"type": "uint16"},
    }
    table = runner.invoke(app, ["modbus", "scan", f"127.0.0.1:{device}", "--count", "4"])
    assert table.exit_code == 0, table.output
    assert "float32 ABCD" in table.stdout and "0x4120" in table.stdout
    coils = runner.invoke(
        app, ["modbus", "scan", f"127.0.0.1:{device}", "--table", "coils", "--count", "4"]
    )
    assert coils.exit_code == 0, coils.output
    assert "coil:2" in coils.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere:99999"], "HOST:PORT"),
        (["127.0.0.1", "--table", "registers"], "--table 'registers'"),
        (["127.0.0.1", "--export", "out.csv"], "use a .yaml"),
    ],
)
def test_scan_refuses_bad_options(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["modbus", "scan", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_scan_of_a_device_that_is_not_there_fails_cleanly(runner: CliRunner) -> None:
    port = free_port()
    result = runner.invoke(app, ["modbus", "scan", f"127.0.0.1:{port}", "--timeout", "0.5"])
    assert result.exit_code not in (0, 2)
    assert f"127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
