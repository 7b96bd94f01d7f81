"""Publish/subscribe of records by Unified Namespace topic."""

from shopfloor.bus.config import BusConfig
from shopfloor.bus.memory import MemoryBus, MemorySubscription
from shopfloor.bus.protocol import Bus, BusFull, Delivery, Subscription
from shopfloor.bus.topics import topic_matches, validate_filter, validate_topic

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
