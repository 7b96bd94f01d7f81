"""MQTT topic filters, matched the way an MQTT 5 broker matches them.

``+`` matches one level, ``#`` (last level only) matches any number of levels including
none. The in-process bus uses the same rules so that a subscription behaves the same
when the platform moves to a broker.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["topic_matches", "validate_filter", "validate_topic"]


def validate_topic(topic: str) -> str:
    """Return ``topic`` when it is a valid topic name to publish to, else raise ``ValueError``."""
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        raise ValueError(f"topic {topic!r} is empty or contains a wildcard or NUL")
    if len(topic.encode()) > 65535:
        raise ValueError(f"topic of {len(topic)} characters is longer than MQTT allows")
    return topic


def validate_filter(pattern: str) -> str:
    """Return ``pattern`` when it is a valid topic filter, else raise ``ValueError``.

    Examples
    --------
    >>> validate_filter("shopfloor/v1/acme/+/#")
    'shopfloor/v1/acme/+/#'
    """
    if not pattern or "\x00" in pattern:
        raise ValueError(f"topic filter {pattern!r} is empty or contains NUL")
    levels = pattern.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"topic filter {pattern!r}: '#' must be a whole, last level")
        if "+" in level and level != "+":
            raise ValueError(f"topic filter {pattern!r}: '+' must be a whole level")
    return pattern


@lru_cache(maxsize=65536)
def topic_matches(pattern: str, topic: str) -> bool:
    """Tell whether ``topic`` matches the filter ``pattern``.

    Examples
    --------
    >>> topic_matches("shopfloor/v1/#", "shopfloor/v1/acme/p1/a/l/c/m/speed")
    True
    >>> topic_matches("shopfloor/v1/+/speed", "shopfloor/v1/acme/p1/speed")
    False
    """
    if pattern == topic:
        return True
    p_levels = pattern.split("/")
    t_levels = topic.split("/")
    if topic.startswith("$") and p_levels[0] in ("+", "#"):
        return False
    for i, p in enumerate(p_levels):
        if p == "#":
            return True
        if i >= len(t_levels):
            return False
        if p != "+" and p != t_levels[i]:
            return False
    return len(p_levels) == len(t_levels)
