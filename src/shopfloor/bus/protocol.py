"""The seam every bus implements: the in-process bus now, an MQTT 5 broker later.

Delivery is **at least once**: a subscriber acknowledges each delivery once it has done
its work (for the store sink: once the write is committed); a delivery that is negatively
acknowledged, or still unacknowledged when its subscription closes, is delivered again to
the next reader of the same named subscription. Subscribers must therefore be idempotent,
which the store is (one row per signal and timestamp).

Queues are bounded, in records and in bytes: when a subscriber's queue is full,
:meth:`Bus.publish` waits (backpressure) up to its timeout and then raises
:class:`~shopfloor.errors.BusFull`, so a producer can divert to its journal instead of
growing memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from shopfloor.errors import BusFull
from shopfloor.model import Record

__all__ = ["Bus", "BusFull", "Delivery", "Subscription"]


@runtime_checkable
class Delivery(Protocol):
    """One record delivered to one subscription."""

    @property
    def topic(self) -> str:
        """The topic it was published on."""

    @property
    def record(self) -> Record:
        """The record."""

    @property
    def redelivered(self) -> bool:
        """True when this record was delivered before and not acknowledged."""

    def ack(self) -> None:
        """The work is done; the bus forgets this delivery."""

    def nack(self) -> None:
        """The work failed; deliver this record again (first in line)."""


@runtime_checkable
class Subscription(Protocol):
    """A named, bounded stream of deliveries matching a topic filter."""

    @property
    def name(self) -> str:
        """Durable name: unacknowledged deliveries survive a re-subscribe under it."""

    @property
    def pattern(self) -> str:
        """The topic filter."""

    @property
    def pending(self) -> int:
        """Deliveries queued or in flight (delivered, not yet acknowledged)."""

    async def get(self, timeout_s: float | None = None) -> Delivery:
        """The next delivery; ``TimeoutError`` after ``timeout_s``."""

    async def get_batch(
        self, max_items: int, timeout_s: float, max_bytes: int | None = None
    ) -> list[Delivery]:
        """Up to ``max_items`` deliveries; empty when none comes within ``timeout_s``.

        Waits for the first one, then takes whatever else is already queued, up to
        ``max_bytes`` of records (:func:`~shopfloor.model.record_nbytes`; the first is
        always taken).
        """

    def __aiter__(self) -> AsyncIterator[Delivery]:
        """Iterate over deliveries until the subscription is closed."""

    async def close(self) -> None:
        """Stop reading; the subscription stays durable.

        Unacknowledged deliveries and whatever is published meanwhile (up to its bound)
        wait for the next reader of the same name.
        """


@runtime_checkable
class Bus(Protocol):
    """Publish/subscribe of records by Unified Namespace topic."""

    async def start(self) -> None:
        """Connect (a no-op in process)."""

    async def close(self) -> None:
        """Close every subscription; later publishes raise ``BusClosed``."""

    async def publish(self, topic: str, record: Record, *, timeout_s: float | None = None) -> None:
        """Deliver ``record`` to every matching subscription, waiting while one is full.

        Raises ``BusFull`` when ``timeout_s`` passes first (``None`` waits forever).
        """

    async def subscribe(
        self, pattern: str, *, name: str, maxsize: int = 1024, max_bytes: int | None = None
    ) -> Subscription:
        """Subscribe to a topic filter (``+`` and ``#`` as in MQTT).

        The subscription's queue holds at most ``maxsize`` records and ``max_bytes`` bytes
        of them (the bus's default when None).
        """
