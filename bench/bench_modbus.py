"""Modbus polling of 1,000 registers: block reads against one request per tag.

Same server, same run: the Modbus connector polls 1,000 uint16 tags as fast as it can,
first with block reads (tags merged into requests of up to 125 registers), then with one
request per tag; also a bare pymodbus client reading the same blocks and decoding
nothing, to show what the connector's decoding and records cost on top.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Measurement, Section
from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.modbus.client import ModbusConnector
from shopfloor.connectors.modbus.config import ModbusConfig
from shopfloor.model import Signal, SignalRef, record_count
from shopfloor.sim.modbus import ModbusSimConfig, ModbusSimServer

ASSET = "bench/plant/area/line/cell/plc"
N_TAGS = 1000
MEASURE_S = 4.0


class _Counter:
    def __init__(self) -> None:
        self.values = 0

    async def emit(self, records: Any) -> None:
        self.values += record_count(records)

    async def reject(self, letters: Any) -> None:
        raise AssertionError(f"dead letters while polling: {letters[:1]}")


async def _connector_polls(port: int, per_tag: bool) -> float:
    """Full polls of every tag per second through the connector."""
    signals = [
        BoundSignal(SignalRef(ASSET, f"r{i}"), Signal(name=f"r{i}"), f"holding:{i}")
        for i in range(N_TAGS)
    ]
    limits = {"max_gap_registers": 0, "max_registers_per_read": 1} if per_tag else {}
    config = ModbusConfig(name="plc", host="127.0.0.1", port=port, poll_interval_ms=0.001, **limits)
    counter = _Counter()
    with tempfile.TemporaryDirectory() as tmp:
        connector = ModbusConnector(
            config, signals, ConnectorContext(Path(tmp), counter.emit, counter.reject)
        )
        await connector.connect()
        try:
            await asyncio.sleep(0.5)  # warm-up
            start, t0 = counter.values, time.perf_counter()
            await asyncio.sleep(MEASURE_S)
            done, seconds = counter.values - start, time.perf_counter() - t0
        finally:
            await connector.close()
    return done / N_TAGS / seconds


async def _bare_polls(port: int) -> float:
    """Full polls per second of a bare pymodbus client reading the same 8 blocks."""
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    await client.connect()
    try:
        polls = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < MEASURE_S:
            for start in range(0, N_TAGS, 125):
                response = await client.read_holding_registers(
                    start, count=min(125, N_TAGS - start), device_id=1
                )
                assert not response.isError()
            polls += 1
        return polls / (time.perf_counter() - t0)
    finally:
        client.close()


async def _measure() -> tuple[float, float, float]:
    async with ModbusSimServer(ModbusSimConfig(period_s=0, registers=N_TAGS)) as sim:
        await sim.write("holding", 0, list(range(N_TAGS)))
        blocks = await _connector_polls(sim.port, per_tag=False)
        per_tag = await _connector_polls(sim.port, per_tag=True)
        bare = await _bare_polls(sim.port)
    return blocks, per_tag, bare


def run() -> Section:
    """Polls per second: block reads, one request per tag, bare pymodbus block reads."""
    blocks, per_tag, bare = asyncio.run(_measure())
    return Section(
        title="Modbus polling of 1,000 registers",
        description=(
            f"{N_TAGS} uint16 tags in consecutive holding registers of the simulated Modbus "
            "device (pymodbus server, in the same process and event loop as the client), "
            f"polled as fast as they answer for {MEASURE_S:g} s each, same server, same run. "
            "Ours: the Modbus connector with block reads (8 requests of up to 125 "
            "registers per poll). Baselines: the same connector with one request per tag "
            "(max_registers_per_read: 1), and a bare pymodbus client reading the same 8 "
            "blocks and decoding nothing."
        ),
        measurements=[
            Measurement(
                "full polls, block reads vs one request per tag",
                blocks,
                "polls/s",
                per_tag,
                "one request per tag",
                goal="≥ 10",
                goal_ratio=10.0,
            ),
            Measurement(
                "full polls, connector vs bare pymodbus block reads",
                blocks,
                "polls/s",
                bare,
                "bare pymodbus",
            ),
        ],
        notes=[
            "the server shares the process and the event loop with the client: both rates "
            "are bounded by one core, so the ratios, not the rates, carry over to a real "
            "device (where each request costs a network round trip, which block reads save "
            "124 times out of 125)",
            "against bare pymodbus the connector also decodes, scales and batches every "
            "value (a few microseconds each, in Python): at 100+ full polls per second of "
            "1,000 registers, it keeps up with any real device's poll rate by far",
        ],
    )
