"""The contract every :class:`~shopfloor.bus.Bus` keeps (in process now, MQTT later)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable

import numpy as np

from shopfloor.bus import Bus, BusFull
from shopfloor.model import EventRecord, Provenance, SignalRef, WaveformBlock, topic_for

__all__ = ["BUS_CHECKS", "check_bus"]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def _event(i: int, name: str = "program") -> tuple[str, EventRecord]:
    ref = SignalRef(ASSET, name)
    return topic_for(ref), EventRecord(ref, i, "tick", Provenance("check"), attributes={"i": i})


async def check_wildcards(bus: Bus) -> None:
    """A subscription receives exactly the topics its MQTT filter matches."""
    every = await bus.subscribe("shopfloor/v1/#", name="every")
    one = await bus.subscribe(f"shopfloor/v1/{ASSET}/program", name="one")
    plus = await bus.subscribe("shopfloor/v1/acme/+/machining/#", name="plus")
    none = await bus.subscribe("shopfloor/v1/other/#", name="none")
    for name in ("program", "speed"):
        topic, record = _event(1, name)
        await bus.publish(topic, record)
    assert every.pending == 2 and one.pending == 1 and plus.pending == 2 and none.pending == 0
    for sub in (every, one, plus, none):
        await sub.close()


async def check_order_and_ack(bus: Bus) -> None:
    """Deliveries come in publish order; acknowledged ones are gone."""
    sub = await bus.subscribe("shopfloor/v1/#", name="order")
    for i in range(5):
        await bus.publish(*_event(i))
    got = await sub.get_batch(10, timeout_s=1)
    assert [d.record.ts_ns for d in got] == [0, 1, 2, 3, 4]  # type: ignore[union-attr]
    for d in got:
        d.ack()
    assert sub.pending == 0
    await sub.close()


async def check_redelivery(bus: Bus) -> None:
    """A nacked or unacknowledged delivery comes again (at least once).

    That holds for a nack, and for a delivery still unacknowledged when its subscriber
    closes: the next reader of the same named subscription gets it.
    """
    sub = await bus.subscribe("shopfloor/v1/#", name="redeliver")
    await bus.publish(*_event(1))
    await bus.publish(*_event(2))
    first = await sub.get(timeout_s=1)
    first.nack()
    again = await sub.get(timeout_s=1)
    assert again.record is first.record and again.redelivered
    await sub.close()  # 'again' was never acknowledged
    sub = await bus.subscribe("shopfloor/v1/#", name="redeliver")
    items = await sub.get_batch(10, timeout_s=1)
    assert sorted(d.record.ts_ns for d in items) == [1, 2]  # type: ignore[union-attr]
    for d in items:
        d.ack()
    await sub.close()


async def check_backpressure(bus: Bus) -> None:
    """A full subscriber makes publish wait, then fail with BusFull after its timeout.

    Memory stays bounded by the queue size.
    """
    sub = await bus.subscribe("shopfloor/v1/#", name="slow", maxsize=4)
    for i in range(4):
        await bus.publish(*_event(i), timeout_s=1)
    try:
        await bus.publish(*_event(99), timeout_s=0.05)
    except BusFull:
        pass
    else:
        raise AssertionError("publish to a full queue did not raise BusFull")
    assert sub.pending == 4
    waiter = asyncio.create_task(bus.publish(*_event(5), timeout_s=2))
    await asyncio.sleep(0.02)
    assert not waiter.done()
    (await sub.get(timeout_s=1)).ack()
    await asyncio.wait_for(waiter, 1)
    assert sub.pending == 4
    await sub.close()


def _block(i: int) -> tuple[str, WaveformBlock]:
    """A three-channel block of 25,600 float64 samples (600 kB)."""
    ref = SignalRef(ASSET, "spindle_accel")
    data = np.full((25600, 3), float(i))
    return topic_for(ref), WaveformBlock(ref, i * 10**9, 25600.0, data, "g", Provenance("check"))


async def check_bytes_bound(bus: Bus) -> None:
    """A queue is bounded in bytes too: two 600 kB blocks fill 1 MB, the third waits.

    One record always fits in an empty queue, however large; a batch stops before
    ``max_bytes`` (but always holds one record).
    """
    sub = await bus.subscribe("shopfloor/v1/#", name="bytes", maxsize=1000, max_bytes=10**6)
    for i in range(2):
        await bus.publish(*_block(i), timeout_s=1)
    try:
        await bus.publish(*_block(2), timeout_s=0.05)
    except BusFull:
        pass
    else:
        raise AssertionError("publish beyond max_bytes did not raise BusFull")
    batch = await sub.get_batch(10, timeout_s=1, max_bytes=700_000)
    assert len(batch) == 1, f"a batch of at most 700 kB took {len(batch)} 600 kB blocks"
    batch[0].ack()
    await bus.publish(*_block(2), timeout_s=1)
    rest = await sub.get_batch(10, timeout_s=1, max_bytes=1)
    assert len(rest) == 1
    for d in [*rest, *await sub.get_batch(10, timeout_s=1)]:
        d.ack()
    assert sub.pending == 0
    await sub.close()


async def check_acknowledged_records_released(bus: Bus) -> None:
    """The bus holds no reference to a record once its delivery is acknowledged.

    A subscriber that keeps up must not keep memory: the in-process bus once kept 4,096
    acknowledged deliveries per subscription (2.5 GB of waveform blocks).
    """
    sub = await bus.subscribe("shopfloor/v1/#", name="released")
    alive: list[weakref.ref[object]] = []
    for i in range(20):
        topic, block = _block(i)
        alive.append(weakref.ref(block.data))
        await bus.publish(topic, block, timeout_s=1)
        del block
        for delivery in await sub.get_batch(10, timeout_s=1):
            delivery.ack()
            del delivery
    gc.collect()
    held = sum(ref() is not None for ref in alive)
    assert held == 0, f"{held} of 20 acknowledged waveform blocks are still referenced"
    await sub.close()


BUS_CHECKS: list[Callable[[Bus], Awaitable[None]]] = [
    check_wildcards,
    check_order_and_ack,
    check_redelivery,
    check_backpressure,
    check_bytes_bound,
    check_acknowledged_records_released,
]


async def check_bus(factory: Callable[[], Awaitable[Bus]]) -> None:
    """Run every check, each on a fresh bus."""
    for check in BUS_CHECKS:
        bus = await factory()
        try:
            await check(bus)
        finally:
            await bus.close()
