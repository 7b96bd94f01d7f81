from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from shopfloor.bus import Bus, MemoryBus
from shopfloor.bus.topics import topic_matches, validate_filter
from shopfloor.errors import BusClosed, BusError
from shopfloor.model import Provenance, ScalarBatch, SignalRef, topic_for
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
