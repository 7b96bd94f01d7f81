"""Publish/subscribe of records by Unified Namespace topic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.bus.config import BusConfig
    from shopfloor.bus.memory import MemoryBus, MemorySubscription
    from shopfloor.bus.protocol import Bus, BusFull, Delivery, Subscription
    from shopfloor.bus.topics import topic_matches, validate_filter, validate_topic
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.bus.config": ("BusConfig",),
            "shopfloor.bus.memory": ("MemoryBus", "MemorySubscription"),
            "shopfloor.bus.protocol": ("Bus", "BusFull", "Delivery", "Subscription"),
            "shopfloor.bus.topics": ("topic_matches", "validate_filter", "validate_topic"),
        },
    )

__all__ = [
    "Bus",
    "BusConfig",
    "BusFull",
    "Delivery",
    "MemoryBus",
    "MemorySubscription",
    "Subscription",
    "topic_matches",
    "validate_filter",
    "validate_topic",
]
