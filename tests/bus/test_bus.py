from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import numpy as np
import pytest

from shopfloor.bus import Bus, MemoryBus, StoreSink
from shopfloor.bus.topics import topic_matches, validate_filter
from shopfloor.errors import BusClosed, BusError, StoreUnavailable
from shopfloor.model import Provenance, Record, ScalarBatch, SignalRef, topic_for
from shopfloor.store import DuckDBStore, WriteReport
from shopfloor.testing.bus_checks import BUS_CHECKS

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


@pytest.mark.parametrize("check", BUS_CHECKS, ids=lambda c: c.__name__)
async def test_memory_bus_contract(check: Callable[[Bus], Awaitable[None]]) -> None:
    bus = MemoryBus()
    try:
        await check(bus)
    finally:
        await bus.close()


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a/b/c", "a/b/c", True),
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "$SYS/x", False),
        ("+/b", "a/b/c", False),
        ("a/b", "a/b/c", False),
    ],
)
def test_topic_matching_follows_mqtt(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


@pytest.mark.parametrize("pattern", ["a/#/b", "a/b#", "a+/b", ""])
def test_bad_filters_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="filter"):
        validate_filter(pattern)


async def test_closed_bus_and_duplicate_names() -> None:
    bus = MemoryBus()
    await bus.subscribe("#", name="x")
    with pytest.raises(BusError, match="already in use"):
        await bus.subscribe("#", name="x")
    await bus.close()
    with pytest.raises(BusClosed):
        await bus.publish("a/b", ScalarBatch.of(SignalRef(ASSET, "s"), [1], [1.0], Provenance("t")))


async def test_slow_consumer_keeps_memory_bounded() -> None:
    """A consumer that never reads makes producers wait instead of queueing without bound."""
    bus = MemoryBus()
    sub = await bus.subscribe("shopfloor/v1/#", name="slow", maxsize=16)
    ref = SignalRef(ASSET, "speed")
    published = 0

    async def produce() -> None:
        nonlocal published
        for i in range(1000):
            await bus.publish(topic_for(ref), ScalarBatch.of(ref, [i], [1.0], Provenance("t")))
            published += 1

    task = asyncio.create_task(produce())
    await asyncio.sleep(0.1)
    assert published == 16 and sub.pending == 16 and not task.done()
    task.cancel()
    await bus.close()


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
