"""The bus-to-store sink: at-least-once into the store, retried while the store fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from shopfloor.bus import MemoryBus
from shopfloor.connectors.journal import Journal
from shopfloor.errors import StoreFailed, StoreUnavailable
from shopfloor.model import Provenance, Record, ScalarBatch, SignalRef, topic_for
from shopfloor.model.codec import decode_records
from shopfloor.node.sink import StoreSink
from shopfloor.store import DuckDBStore, WriteReport

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


class FlakyStore:
    """A real store that refuses writes for a while, as a store on a full disk would."""

    def __init__(self, inner: DuckDBStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def write(self, records: Sequence[Record]) -> WriteReport:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("disk full (simulated)")
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


class BrokenStore(FlakyStore):
    """A real store whose writes fail with ``error`` until :meth:`reopen` finds it healed."""

    def __init__(self, inner: DuckDBStore, error: Exception) -> None:
        super().__init__(inner, failures=0)
        self.error: Exception | None = error
        self.healed = False
        self.reopens = 0

    async def write(self, records: Sequence[Record]) -> WriteReport:
        if self.error is not None:
            raise self.error
        return await self.inner.write(records)

    async def reopen(self) -> None:
        self.reopens += 1
        if not self.healed:
            raise StoreFailed("still full", reason="disk full at /full/store.duckdb")
        self.error = None


async def _store_with_speed() -> DuckDBStore:
    from shopfloor.model import Signal

    inner = DuckDBStore(":memory:")
    await inner.open()
    await inner.register_signals(ASSET, [Signal(name="speed")])
    return inner


async def _publish(bus: MemoryBus, n: int, start: int = 0) -> None:
    ref = SignalRef(ASSET, "speed")
    for i in range(start, start + n):
        await bus.publish(
            topic_for(ref), ScalarBatch.of(ref, [T0 + i * 10**6], [float(i)], Provenance("t"))
        )


T0 = 1_700_000_000 * 10**9


async def test_an_unexpected_store_exception_does_not_kill_the_sink() -> None:
    """A library error the store did not translate is retried, never the end of the writer."""
    inner = await _store_with_speed()
    store = FlakyStore(inner, failures=0)
    calls = 0

    async def write(records: Sequence[Record]) -> WriteReport:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("TransactionContext Error: cannot rollback")
        return await inner.write(records)

    store.write = write  # type: ignore[method-assign]
    bus = MemoryBus()
    sink = StoreSink(bus, store, batch_wait_s=0.01, backoff_initial_s=0.001)  # type: ignore[arg-type]
    await sink.subscribe()
    task = asyncio.create_task(sink.run())
    await _publish(bus, 50)
    sink.stop()
    await asyncio.wait_for(task, 10)
    assert await inner.count(SignalRef(ASSET, "speed")) == 50
    assert sink.stats.failures == 2 and sink.stats.state == "ok"
    assert "cannot rollback" in (sink.stats.last_error or "")
    await inner.close()


async def test_a_failed_store_is_shown_reopened_and_loses_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = await _store_with_speed()
    store = BrokenStore(
        inner,
        StoreFailed(
            "write failed: No space left on device", reason="disk full at /full/store.duckdb"
        ),
    )
    bus = MemoryBus()
    sink = StoreSink(
        bus,
        store,
        maxsize=1000,
        batch_wait_s=0.01,
        reopen_interval_s=0.01,  # type: ignore[arg-type]
    )
    await sink.subscribe()
    caplog.set_level(logging.INFO, logger="shopfloor.node.sink")
    task = asyncio.create_task(sink.run())
    await _publish(bus, 100)
    while store.reopens < 3:
        await asyncio.sleep(0.01)
    health = sink.health
    assert health["state"] == "failed" and health["reason"] == "disk full at /full/store.duckdb"
    assert not task.done()
    store.healed = True
    while sink.stats.state != "ok":
        await asyncio.sleep(0.01)
    await _publish(bus, 100, start=100)
    sink.stop()
    await asyncio.wait_for(task, 10)
    table = await inner.read_scalars(SignalRef(ASSET, "speed"), T0, T0 + 10**9)
    assert np.array_equal(table.column("value").to_numpy(), np.arange(200.0))
    assert sink.stats.recoveries == 1 and sink.health["reason"] is None
    failed = [r for r in caplog.records if "store_failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "store_recovered" in r.getMessage()]
    assert len(failed) == 1 and len(recovered) == 1  # once each, not per attempt
    await inner.close()


async def test_stop_while_the_store_is_failed_spills_what_is_queued(tmp_path: Path) -> None:
    inner = await _store_with_speed()
    store = BrokenStore(inner, StoreFailed("invalidated", reason="store failed"))
    bus = MemoryBus()
    spill = Journal(tmp_path / "spill", max_bytes=1024**2, segment_bytes=64 * 1024)
    sink = StoreSink(
        bus,
        store,
        maxsize=1000,
        batch_wait_s=0.01,
        reopen_interval_s=30,
        spill=spill,  # type: ignore[arg-type]
    )
    await sink.subscribe()
    task = asyncio.create_task(sink.run())
    await _publish(bus, 300)
    while sink.stats.state != "failed":
        await asyncio.sleep(0.01)
    sink.stop()  # wakes the reopen wait at once
    await asyncio.wait_for(task, 10)
    assert sink.stats.spilled == 300 and sink.pending == 0
    again = Journal(tmp_path / "spill", max_bytes=1024**2, segment_bytes=64 * 1024)
    frames = again.read(1000)
    values = [v for payload, _ in frames for r in decode_records(payload) for v in r.values]  # type: ignore[union-attr]
    assert values == [float(i) for i in range(300)]
    await inner.close()
