"""The in-process bus: bounded queues, backpressure, at-least-once delivery.

The default for the embedded platform. Written here rather than taken from a library
because it must keep the exact semantics of the MQTT bus that replaces it at scale-out
(topic filters, named durable subscriptions, acknowledgements) with no serialization.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator

from shopfloor.bus.protocol import BusFull, Delivery
from shopfloor.bus.topics import topic_matches, validate_filter, validate_topic
from shopfloor.errors import BusClosed, BusError
from shopfloor.model import Record

__all__ = ["MemoryBus", "MemorySubscription"]

log = logging.getLogger(__name__)


class _Delivery:
    __slots__ = ("_done", "_state", "record", "redelivered", "topic")

    def __init__(self, state: _State, topic: str, record: Record) -> None:
        self._state = state
        self.topic = topic
        self.record = record
        self.redelivered = False
        self._done = True

    def ack(self) -> None:
        if not self._done:
            self._done = True
            self._state.inflight -= 1
            self._state.acked += 1

    def nack(self) -> None:
        if not self._done:
            self._done = True
            self._state.inflight -= 1
            self.redelivered = True
            self._state.items.appendleft(self)
            self._state.not_empty.set()
            if self._state.full:
                self._state.not_full.clear()


class _State:
    """Queue and counters of one named subscription; outlives a closed subscriber."""

    def __init__(self, name: str, pattern: str, maxsize: int) -> None:
        self.name = name
        self.pattern = pattern
        self.maxsize = maxsize
        self.items: deque[_Delivery] = deque()
        self.inflight = 0
        self.not_empty = asyncio.Event()
        self.not_full = asyncio.Event()
        self.not_full.set()
        self.attached = False
        self.delivered = 0
        self.acked = 0

    @property
    def full(self) -> bool:
        return len(self.items) >= self.maxsize


class MemorySubscription:
    """A subscription of the :class:`MemoryBus` (see :class:`~shopfloor.bus.Subscription`)."""

    def __init__(self, bus: MemoryBus, state: _State) -> None:
        self._bus = bus
        self._state = state
        self._inflight: list[_Delivery] = []
        self._closed = False

    @property
    def name(self) -> str:
        """Durable name."""
        return self._state.name

    @property
    def pattern(self) -> str:
        """Topic filter."""
        return self._state.pattern

    @property
    def pending(self) -> int:
        """Queued plus in flight."""
        return len(self._state.items) + self._state.inflight

    @property
    def delivered(self) -> int:
        """Deliveries handed out, redeliveries included."""
        return self._state.delivered

    @property
    def acked(self) -> int:
        """Deliveries acknowledged."""
        return self._state.acked

    def _take(self) -> _Delivery:
        state = self._state
        delivery = state.items.popleft()
        if not state.items:
            state.not_empty.clear()
        if len(state.items) < state.maxsize:
            state.not_full.set()
        delivery._done = False
        state.inflight += 1
        state.delivered += 1
        self._inflight.append(delivery)
        if len(self._inflight) > 4 * state.maxsize:
            self._inflight = [d for d in self._inflight if not d._done]
        return delivery

    async def get(self, timeout_s: float | None = None) -> Delivery:
        """The next delivery; raises ``TimeoutError`` or ``BusClosed``."""
        state = self._state
        async with asyncio.timeout(timeout_s):
            while not state.items:
                if self._closed:
                    raise BusClosed(f"subscription {state.name!r} is closed")
                await state.not_empty.wait()
        if self._closed:
            raise BusClosed(f"subscription {state.name!r} is closed")
        return self._take()

    async def get_batch(self, max_items: int, timeout_s: float) -> list[Delivery]:
        """Up to ``max_items``: waits for the first, then takes what is queued."""
        try:
            first = await self.get(timeout_s)
        except TimeoutError:
            return []
        batch: list[Delivery] = [first]
        while self._state.items and len(batch) < max_items:
            batch.append(self._take())
        return batch

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        while True:
            try:
                yield await self.get()
            except BusClosed:
                return

    async def close(self) -> None:
        """Detach; unacknowledged deliveries go back to the front of the queue."""
        if self._closed:
            return
        self._closed = True
        for delivery in reversed(self._inflight):
            delivery.nack()
        self._inflight.clear()
        self._state.attached = False
        self._state.not_empty.set()  # wake a reader blocked in get()


class MemoryBus:
    """In-process :class:`~shopfloor.bus.Bus`.

    Examples
    --------
    >>> import asyncio
    >>> from shopfloor.model import EventRecord, Provenance, SignalRef
    >>> async def demo() -> str:
    ...     bus = MemoryBus()
    ...     sub = await bus.subscribe("shopfloor/v1/#", name="demo")
    ...     ref = SignalRef("acme/p1/a/l1/c1/cnc-01", "program")
    ...     await bus.publish("shopfloor/v1/acme/p1/a/l1/c1/cnc-01/program",
    ...                       EventRecord(ref, 0, "program_change", Provenance("demo")))
    ...     delivery = await sub.get(timeout_s=1)
    ...     delivery.ack()
    ...     await bus.close()
    ...     return delivery.record.kind
    >>> asyncio.run(demo())
    'program_change'
    """

    def __init__(self, *, default_maxsize: int = 1024) -> None:
        self._states: dict[str, _State] = {}
        self._active: list[_State] = []
        self._route: dict[str, list[_State]] = {}
        self._default_maxsize = default_maxsize
        self._closed = False
        self._subscriptions: list[MemorySubscription] = []
        self.published = 0

    async def start(self) -> None:
        """Nothing to connect in process."""

    async def close(self) -> None:
        """Close every subscription and wake waiting publishers (they raise BusClosed)."""
        self._closed = True
        for sub in list(self._subscriptions):
            await sub.close()
        for state in self._states.values():
            state.not_full.set()

    def _targets(self, topic: str) -> list[_State]:
        targets = self._route.get(topic)
        if targets is None:
            targets = [s for s in self._active if topic_matches(s.pattern, topic)]
            if len(self._route) > 65536:
                self._route.clear()
            self._route[topic] = targets
        return targets

    async def publish(self, topic: str, record: Record, *, timeout_s: float | None = None) -> None:
        """Deliver to every matching subscription, all or none, waiting while one is full."""
        if self._closed:
            raise BusClosed("the bus is closed")
        targets = self._targets(validate_topic(topic))
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    full = [s for s in targets if s.full]
                    if not full:
                        break
                    # the event is set exactly while there is room; re-arm it if a
                    # redelivery filled the queue again after it was set
                    full[0].not_full.clear()
                    await full[0].not_full.wait()
                    if self._closed:
                        raise BusClosed("the bus is closed")
        except TimeoutError as err:
            names = ", ".join(s.name for s in targets if s.full)
            raise BusFull(
                f"subscription {names} full ({targets[0].maxsize} records) for "
                f"{timeout_s} s while publishing to {topic!r}"
            ) from err
        for state in targets:
            state.items.append(_Delivery(state, topic, record))
            state.not_empty.set()
            if state.full:
                state.not_full.clear()
        self.published += 1

    async def subscribe(
        self, pattern: str, *, name: str, maxsize: int | None = None
    ) -> MemorySubscription:
        """Subscribe under a durable ``name``; re-subscribing resumes its queue."""
        if self._closed:
            raise BusClosed("the bus is closed")
        validate_filter(pattern)
        state = self._states.get(name)
        if state is None:
            state = _State(name, pattern, maxsize or self._default_maxsize)
            self._states[name] = state
        elif state.attached:
            raise BusError(f"subscription name {name!r} is already in use")
        elif state.pattern != pattern:
            raise BusError(f"subscription {name!r} was made for {state.pattern!r}, not {pattern!r}")
        state.attached = True
        if state not in self._active:
            self._active.append(state)
            self._route.clear()
        sub = MemorySubscription(self, state)
        self._subscriptions.append(sub)
        if state.items:
            state.not_empty.set()
        return sub

    def forget(self, name: str) -> int:
        """Drop a detached subscription's queue; return how many records it held."""
        state = self._states.get(name)
        if state is None:
            return 0
        if state.attached:
            raise BusError(f"subscription {name!r} is attached; close it first")
        del self._states[name]
        self._active.remove(state)
        self._route.clear()
        state.not_full.set()
        if state.items:
            log.warning("bus.forget subscription=%s dropped=%d", name, len(state.items))
        return len(state.items)
