"""The bus-to-store sink: at-least-once into the store, retried while the store fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from shopfloor.bus import MemoryBus
from shopfloor.errors import StoreUnavailable
from shopfloor.model import Provenance, Record, ScalarBatch, SignalRef, topic_for
from shopfloor.node.sink import StoreSink
from shopfloor.store import DuckDBStore, WriteReport

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


class FlakyStore:
    """A real store that refuses writes for a while, as a store on a full disk would."""

    def __init__(
        self, inner: DuckDBStore, failures: int, error: type[Exception] = StoreUnavailable
    ) -> None:
        self.inner = inner
        self.failures = failures
        self.error = error

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def write(self, records: Sequence[Record]) -> WriteReport:
        if self.failures > 0:
            self.failures -= 1
            raise self.error("disk full (simulated)")
        return await self.inner.write(records)


async def test_store_sink_retries_and_loses_nothing(tmp_path: object) -> None:
    """Writes fail five times; every sample still reaches the store exactly once."""
    from shopfloor.model import Signal

    inner = DuckDBStore(":memory:")
    await inner.open()
    await inner.register_signals(ASSET, [Signal(name="speed")])
    store = FlakyStore(inner, failures=5)
    bus = MemoryBus()
    sink = StoreSink(
        bus,
        store,
        maxsize=64,
        batch_size=10,
        batch_wait_s=0.01,  # type: ignore[arg-type]
        backoff_initial_s=0.001,
        backoff_max_s=0.01,
    )
    await sink.subscribe()
    task = asyncio.create_task(sink.run())
    ref = SignalRef(ASSET, "speed")
    t0 = 1_700_000_000 * 10**9
    for i in range(200):
        await bus.publish(
            topic_for(ref), ScalarBatch.of(ref, [t0 + i * 10**6], [float(i)], Provenance("t"))
        )
    sink.stop()
    await asyncio.wait_for(task, 10)
    table = await inner.read_scalars(ref, t0, t0 + 10**9)
    assert table.num_rows == 200
    assert np.array_equal(table.column("value").to_numpy(), np.arange(200.0))
    assert sink.stats.failures == 5 and sink.stats.report.written == 200
    await inner.close()


async def test_store_sink_keeps_records_when_the_disk_is_full() -> None:
    """A fatal store error is not a bad record: nothing is dead-lettered, all is written."""
    from shopfloor.errors import StoreDiskFull
    from shopfloor.model import Signal

    inner = DuckDBStore(":memory:")
    await inner.open()
    await inner.register_signals(ASSET, [Signal(name="speed")])
    bus = MemoryBus()
    sink = StoreSink(
        bus,
        FlakyStore(inner, failures=6, error=StoreDiskFull),  # type: ignore[arg-type]
        batch_size=10,
        batch_wait_s=0.01,
        backoff_initial_s=0.001,
        backoff_max_s=0.01,
    )
    await sink.subscribe()
    task = asyncio.create_task(sink.run())
    ref = SignalRef(ASSET, "speed")
    t0 = 1_700_000_000 * 10**9
    for i in range(50):
        await bus.publish(
            topic_for(ref), ScalarBatch.of(ref, [t0 + i * 10**6], [float(i)], Provenance("t"))
        )
    sink.stop()
    await asyncio.wait_for(task, 10)
    assert await inner.count(ref) == 50
    assert await inner.count_dead_letters() == 0
    await inner.close()
