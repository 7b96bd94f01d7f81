"""The in-process bus: bounded queues, backpressure, at-least-once delivery.

A subscription's queue is bounded twice: in records (``maxsize``) and in bytes
(``max_bytes``, see :func:`~shopfloor.model.record_nbytes`), so a lagging subscriber holds
at most that much whatever the records are: 1,024 scalar batches are a few hundred kB,
1,024 three-channel waveform blocks 600 MB. A delivery is released as soon as it is
acknowledged.

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
from shopfloor.model import Record, record_nbytes

__all__ = ["MemoryBus", "MemorySubscription"]

log = logging.getLogger(__name__)


class _Delivery:
    __slots__ = ("_done", "_owner", "_state", "nbytes", "record", "redelivered", "topic")

    def __init__(self, state: _State, topic: str, record: Record, nbytes: int) -> None:
        self._state = state
        self.topic = topic
        self.record = record
        self.nbytes = nbytes
        self.redelivered = False
        self._done = True
        self._owner: dict[int, _Delivery] | None = None
        """The in-flight deliveries of the subscription that handed this one out."""

    def _settle(self) -> None:
        self._done = True
        self._state.inflight -= 1
        if self._owner is not None:
            self._owner.pop(id(self), None)
            self._owner = None

    def ack(self) -> None:
        if not self._done:
            self._settle()
            self._state.acked += 1

    def nack(self) -> None:
        if not self._done:
            self._settle()
            self.redelivered = True
            self._state.push_front(self)


class _State:
    """Queue and counters of one named subscription; outlives a closed subscriber."""

    def __init__(self, name: str, pattern: str, maxsize: int, max_bytes: int) -> None:
        self.name = name
        self.pattern = pattern
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.items: deque[_Delivery] = deque()
        self.nbytes = 0
        """Bytes of the queued records (not of those in flight)."""
        self.inflight = 0
        self.not_empty = asyncio.Event()
        self.not_full = asyncio.Event()
        self.not_full.set()
        self.attached = False
        self.delivered = 0
        self.acked = 0

    @property
    def full(self) -> bool:
        """No room for another record: one record always fits in an empty queue."""
        return len(self.items) >= self.maxsize or (
            bool(self.items) and self.nbytes >= self.max_bytes
        )

    def push(self, delivery: _Delivery) -> None:
        self.items.append(delivery)
        self._added(delivery)

    def push_front(self, delivery: _Delivery) -> None:
        self.items.appendleft(delivery)
        self._added(delivery)

    def _added(self, delivery: _Delivery) -> None:
        self.nbytes += delivery.nbytes
        self.not_empty.set()
        if self.full:
            self.not_full.clear()

    def pop(self) -> _Delivery:
        delivery = self.items.popleft()
        self.nbytes -= delivery.nbytes
        if not self.items:
            self.not_empty.clear()
        if not self.full:
            self.not_full.set()
        return delivery


class MemorySubscription:
    """A subscription of the :class:`MemoryBus` (see :class:`~shopfloor.bus.Subscription`)."""

    def __init__(self, bus: MemoryBus, state: _State) -> None:
        self._bus = bus
        self._state = state
        self._inflight: dict[int, _Delivery] = {}
        """Handed out and not yet settled, by id: an acknowledged one is dropped at once."""
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
        delivery = state.pop()
        delivery._done = False
        state.inflight += 1
        state.delivered += 1
        self._inflight[id(delivery)] = delivery
        delivery._owner = self._inflight
        return delivery

    async def get(self, timeout_s: float | None = None) -> Delivery:
        """The next delivery; raises ``TimeoutError`` or ``BusClosed``."""
        return await self._next(timeout_s)

    async def _next(self, timeout_s: float | None) -> _Delivery:
        state = self._state
        async with asyncio.timeout(timeout_s):
            while not state.items:
                if self._closed:
                    raise BusClosed(f"subscription {state.name!r} is closed")
                await state.not_empty.wait()
        if self._closed:
            raise BusClosed(f"subscription {state.name!r} is closed")
        return self._take()

    async def get_batch(
        self, max_items: int, timeout_s: float, max_bytes: int | None = None
    ) -> list[Delivery]:
        """Up to ``max_items`` (and ``max_bytes``): waits for the first, takes what is queued."""
        try:
            first = await self._next(timeout_s)
        except TimeoutError:
            return []
        batch: list[Delivery] = [first]
        room = (max_bytes if max_bytes is not None else self._state.max_bytes) - first.nbytes
        items = self._state.items
        while items and len(batch) < max_items and items[0].nbytes <= room:
            room -= items[0].nbytes
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
        for delivery in reversed(list(self._inflight.values())):
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

    def __init__(self, *, default_maxsize: int = 1024, default_max_bytes: int = 64 * 2**20) -> None:
        self._states: dict[str, _State] = {}
        self._active: list[_State] = []
        self._route: dict[str, list[_State]] = {}
        self._default_maxsize = default_maxsize
        self._default_max_bytes = default_max_bytes
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
            full = [s for s in targets if s.full]
            names = ", ".join(s.name for s in full)
            limits = full[0] if full else targets[0]
            raise BusFull(
                f"subscription {names} full ({limits.maxsize} records or "
                f"{limits.max_bytes} bytes) for {timeout_s} s while publishing to {topic!r}"
            ) from err
        nbytes = record_nbytes(record)
        for state in targets:
            state.push(_Delivery(state, topic, record, nbytes))
        self.published += 1

    async def subscribe(
        self,
        pattern: str,
        *,
        name: str,
        maxsize: int | None = None,
        max_bytes: int | None = None,
    ) -> MemorySubscription:
        """Subscribe under a durable ``name``; re-subscribing resumes its queue.

        ``maxsize`` and ``max_bytes`` bound the queue (the bus's defaults when None).
        """
        if self._closed:
            raise BusClosed("the bus is closed")
        validate_filter(pattern)
        state = self._states.get(name)
        if state is None:
            maxsize = maxsize or self._default_maxsize
            state = _State(name, pattern, maxsize, max_bytes or self._default_max_bytes)
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
