"""Sparkplug B topic names: ``spBv1.0/<group>/<type>/<edge node>[/<device>]`` and STATE.

Examples
--------
>>> topic = parse_topic("spBv1.0/plant1/DDATA/press-gw/press-3")
>>> topic.group, topic.message_type, topic.edge_node, topic.device
('plant1', <MessageType.DDATA: 'DDATA'>, 'press-gw', 'press-3')
>>> command_topic("plant1", "press-gw")
'spBv1.0/plant1/NCMD/press-gw'
>>> state_topic("shopfloor")
'spBv1.0/STATE/shopfloor'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = [
    "NAMESPACE",
    "MessageType",
    "NodeKey",
    "SparkplugTopic",
    "command_topic",
    "parse_topic",
    "state_topic",
    "validate_id",
]

NAMESPACE = "spBv1.0"
"""The Sparkplug B topic namespace (first topic level)."""

NodeKey = tuple[str, str]
"""``(group id, edge node id)``: one edge node."""


class MessageType(StrEnum):
    """The message types of an edge node's topics."""

    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    NDATA = "NDATA"
    DDATA = "DDATA"
    NCMD = "NCMD"
    DCMD = "DCMD"


_DEVICE_TYPES = (MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA, MessageType.DCMD)


@dataclass(frozen=True)
class SparkplugTopic:
    """A parsed edge-node topic."""

    group: str
    message_type: MessageType
    edge_node: str
    device: str | None = None

    @property
    def node(self) -> NodeKey:
        """The edge node the message is of."""
        return (self.group, self.edge_node)

    def __str__(self) -> str:
        tail = "" if self.device is None else f"/{self.device}"
        return f"{NAMESPACE}/{self.group}/{self.message_type}/{self.edge_node}{tail}"


def validate_id(value: str, what: str) -> str:
    """A group, edge node, device or host id: not empty, no ``/``, ``+`` or ``#``.

    Raises
    ------
    ValueError
        Naming ``what`` and the value.
    """
    if not value or any(c in value for c in "/+#"):
        raise ValueError(f"{what} {value!r} is not a Sparkplug id (empty, or has '/', '+', '#')")
    return value


@lru_cache(maxsize=4096)
def parse_topic(text: str) -> SparkplugTopic:
    """Parse an edge node's topic (cached: a broker repeats a few topics).

    Raises
    ------
    ValueError
        The topic is no Sparkplug B edge-node topic (STATE topics included), naming it
        and what is wrong.
    """
    parts = text.split("/")
    if len(parts) < 4 or parts[0] != NAMESPACE:
        raise ValueError(
            f"topic {text!r} is not {NAMESPACE}/<group>/<message type>/<edge node>[/<device>]"
        )
    if len(parts) > 5:
        raise ValueError(f"topic {text!r} has {len(parts)} levels; Sparkplug B has 4 or 5")
    group, kind, edge_node = parts[1], parts[2], parts[3]
    try:
        message_type = MessageType(kind)
    except ValueError:
        known = ", ".join(t.value for t in MessageType)
        raise ValueError(f"topic {text!r}: unknown message type {kind!r} ({known})") from None
    device = parts[4] if len(parts) == 5 else None
    if device is None and message_type in _DEVICE_TYPES:
        raise ValueError(f"topic {text!r}: a {message_type} topic ends with a device id")
    if device is not None and message_type not in _DEVICE_TYPES:
        raise ValueError(f"topic {text!r}: a {message_type} topic ends at the edge node id")
    for value, what in ((group, "group id"), (edge_node, "edge node id"), (device, "device id")):
        if value is not None:
            validate_id(value, f"topic {text!r}: {what}")
    return SparkplugTopic(group, message_type, edge_node, device)


def command_topic(group: str, edge_node: str, device: str | None = None) -> str:
    """The NCMD topic of an edge node, or the DCMD topic of one of its devices."""
    if device is None:
        return f"{NAMESPACE}/{group}/{MessageType.NCMD}/{edge_node}"
    return f"{NAMESPACE}/{group}/{MessageType.DCMD}/{edge_node}/{device}"


def state_topic(host_id: str) -> str:
    """Where a host application publishes its STATE (Sparkplug 3.0)."""
    return f"{NAMESPACE}/STATE/{host_id}"
