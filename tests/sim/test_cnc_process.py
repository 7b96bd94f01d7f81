"""``python -m shopfloor.sim.cnc`` as a subprocess: READY line, SIGTERM, SIGKILL + restart."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from asyncua import Client

from shopfloor.model import parse_time, to_ns
from shopfloor.sim.cnc import CncMachineModel, CncSimConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@asynccontextmanager
async def simulator(*args: str, log: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start the simulator, wait for its READY line, yield (process, endpoint url)."""
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shopfloor.sim.cnc", "--quiet", *args,
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        text = line.decode()
        assert text.startswith("READY opc.tcp://127.0.0.1:"), (text, log.read_text())
        yield proc, text.split()[1]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


START = "2026-01-01T00:00:00Z"
"""A fixed machine start (``--start-time``), so the test can run the same model."""


async def read_speed(url: str, config: CncSimConfig) -> float:
    """Read the spindle speed and check it is what the model gives for its timestamp."""
    async with Client(url, timeout=10) as client:
        data = await client.get_node("ns=2;s=CNC01.Spindle.Speed").read_data_value()
    value = data.Value.Value
    assert isinstance(value, float) and data.SourceTimestamp is not None
    model = CncMachineModel(config)
    expected = model.state_at(to_ns(data.SourceTimestamp)).node_values()["Spindle.Speed"]
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    return value


async def wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def test_process_prints_ready_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    async with simulator(
        "--port", "0", "--ground-truth", str(truth), "--fault", "inner_race",
        "--start-time", START, log=tmp_path / "stderr.log",
    ) as (proc, url):  # fmt: skip
        config = CncSimConfig(start_time=parse_time(START), fault={"type": "inner_race"})
        await read_speed(url, config)
        ground_truth = json.loads(truth.read_text())
        assert ground_truth["endpoint_url"] == url
        assert ground_truth["fault"]["type"] == "inner_race"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0


async def test_process_killed_with_sigkill_restarts_on_the_same_port(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    config = CncSimConfig(start_time=parse_time(START))
    async with simulator("--port", "0", "--start-time", START, log=log) as (proc, url):
        await read_speed(url, config)
        proc.kill()
        assert await asyncio.wait_for(proc.wait(), timeout=15) == -signal.SIGKILL
    port = url.rsplit(":", 1)[1]
    async with simulator("--port", port, "--start-time", START, log=log) as (proc, again):
        assert again == url
        await read_speed(url, config)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
