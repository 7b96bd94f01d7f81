"""Sparkplug B on loopback: the host in an engine over a DuckDB store, a simulated edge node."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from shopfloor.bus import MemoryBus, Subscription
from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.config import ReconnectPolicy
from shopfloor.connectors.engine import ConnectorEngine, ConnectorSpec
from shopfloor.connectors.sparkplug.client import SparkplugConnector
from shopfloor.connectors.sparkplug.config import SparkplugConfig
from shopfloor.connectors.sparkplug.simcodec import TahuCodec
from shopfloor.model import DeadLetter, Record, Signal, SignalRef
from shopfloor.sim.sparkplug import DOUBLE, FLOAT, INT16, EdgeNodeSim, EdgeNodeSimConfig, SimMetric
from shopfloor.store.duckdb import DuckDBStore

FAST = ReconnectPolicy(initial_s=0.1, max_s=0.5, jitter=0.1)
TEMPLATE = "acme/plant1/{group}/{edge_node}/main/{device}"
NODE = "acme/plant1/Line1/press-gw/main/node"
PRESS = "acme/plant1/Line1/press-gw/main/press-1"


def host_config(port: int, **kwargs: object) -> SparkplugConfig:
    """The host's settings for the broker at ``port`` (fast reconnects and rebirths)."""
    return SparkplugConfig(
        name="sparkplug",
        port=port,
        timeout_s=3,
        asset_template=TEMPLATE,
        rebirth_interval_s=0.5,
        reconnect=FAST,
        **kwargs,  # type: ignore[arg-type]
    )


def sim(port: int, **kwargs: object) -> EdgeNodeSim:
    """The simulated edge node ``Line1/press-gw`` on the broker at ``port``."""
    return EdgeNodeSim(EdgeNodeSimConfig(port=port, **kwargs), TahuCodec())  # type: ignore[arg-type]


class Host:
    """The Sparkplug connector in an engine, its records written to a DuckDB store."""

    def __init__(self, config: SparkplugConfig, signals: Sequence[BoundSignal] = ()) -> None:
        self.config = config
        self.store = DuckDBStore(":memory:")
        self.bus = MemoryBus()
        self.records: list[Record] = []
        self.letters: list[DeadLetter] = []
        self.registered: list[tuple[str, list[str]]] = []
        self._sub: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self._state = Path(".")
        self.signals = list(signals)

    async def _register(self, asset: str, signals: Sequence[Signal]) -> object:
        self.registered.append((asset, [s.name for s in signals]))
        return await self.store.register_signals(asset, signals)

    async def _dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)
        await self.store.write_dead_letters(letters)

    async def _read(self) -> None:
        assert self._sub is not None
        while True:
            batch = await self._sub.get_batch(1024, 0.05)
            records = [d.record for d in batch]
            if records:
                report = await self.store.write(records)
                assert report.rejected == 0, report
                self.records.extend(records)
            for delivery in batch:
                delivery.ack()

    @property
    def engine(self) -> ConnectorEngine:
        return self._engine

    @property
    def health(self) -> dict[str, object]:
        result: dict[str, object] = self._engine.health()[self.config.name]
        return result

    @property
    def nodes(self) -> dict[str, dict[str, object]]:
        details = self.health["details"]
        assert isinstance(details, dict)
        nodes: dict[str, dict[str, object]] = details["edge_nodes"]
        return nodes

    async def until(self, what: str, condition: Callable[[], bool], timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; health: {self.health}")
            await asyncio.sleep(0.05)

    def count(self, ref: SignalRef) -> int:
        return sum(1 for r in self.records if r.signal == ref)

    @asynccontextmanager
    async def running(self, state_dir: Path) -> AsyncIterator[Host]:
        await self.store.open()
        for bound in self.signals:
            await self.store.register_signals(bound.ref.asset, [bound.definition])
        self._engine = ConnectorEngine(
            [ConnectorSpec(self.config, self.signals, SparkplugConnector)],
            self.bus,
            self._dead_letters,
            state_dir,
            signals={b.ref: b.definition for b in self.signals},
            register=self._register,
        )
        self._sub = await self.bus.subscribe("shopfloor/v1/#", name="store", maxsize=100_000)
        self._reader = asyncio.create_task(self._read())
        await self._engine.start()
        try:
            await self.until("connected", lambda: self.health["state"] == "connected")
            yield self
        finally:
            await self._engine.stop()
            await asyncio.sleep(0.2)  # the reader takes what the bus still holds
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            await self.bus.close()
            await self.store.close()


CONTRACT_METRICS = (SimMetric("Line/Speed", 1, DOUBLE, lambda t: 120.0 + t % 7, "m/min"),)
CONTRACT_DEVICE = (
    SimMetric("Motor/Speed", 10, FLOAT, lambda t: 1450.0, "rpm"),
    SimMetric("Temperature", 11, INT16, lambda t: 40, "degC"),
)
