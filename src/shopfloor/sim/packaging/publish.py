r"""The line camera publishing over MQTT instead of writing to a hot folder.

Each image is one message (QoS 1, acknowledged by the broker before the next part): one
line of JSON (``part_id``, ``ts``, ``line``) then ``\n`` then the encoded image, the
layout the ``mqtt`` connector reads (:mod:`shopfloor.connectors.mqtt.payloads`), or the
image alone with ``header=False``. The topic is a template: ``{line}`` and ``{part_id}``
are filled in, so the part id can travel in the topic, the header, or both.
"""

from __future__ import annotations

import asyncio
import json
import string
from pathlib import Path
from types import TracebackType

import aiomqtt

from shopfloor.model import format_ns
from shopfloor.sim.packaging.line import GroundTruthLog, Part, encode_image

__all__ = ["TOPIC_FIELDS", "MqttCamera", "check_topic", "split_broker"]

TOPIC_FIELDS = frozenset({"line", "part_id"})


def split_broker(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` (or ``HOST``: port 1883); ``ValueError`` if not.

    >>> split_broker("127.0.0.1:1884"), split_broker("localhost")
    (('127.0.0.1', 1884), ('localhost', 1883))
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = port, "1883"
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (port 1..65535)")
    return host, int(port)


def check_topic(template: str) -> str:
    """``template`` when it is a topic template the camera can fill; else ``ValueError``."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise ValueError(f"topic {template!r}: {err}") from None
    unknown = sorted(fields - TOPIC_FIELDS)
    if unknown:
        raise ValueError(f"topic {template!r} uses {{{unknown[0]}}}; use {{line}}, {{part_id}}")
    if not template or "+" in template or "#" in template:
        raise ValueError(f"topic {template!r}: a publish needs a topic without wildcards")
    return template


class MqttCamera:
    """Publishes each part's image to ``topic`` on the broker; logs the ground truth.

    An async context manager: it connects on entry and disconnects on exit.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topic: str,
        labels_path: Path,
        *,
        line_name: str = "line1",
        header: bool = True,
        timeout_s: float = 10.0,
    ) -> None:
        self.topic = check_topic(topic)
        self.line_name = line_name
        self.header = header
        self.timeout_s = timeout_s
        self.labels_path = labels_path
        self.published = 0
        self._client = aiomqtt.Client(
            host, port, identifier=f"packaging-camera-{line_name}", timeout=timeout_s
        )
        self._truth: GroundTruthLog | None = None

    async def __aenter__(self) -> MqttCamera:
        async with asyncio.timeout(self.timeout_s):
            await self._client.__aenter__()
        self._truth = GroundTruthLog(self.labels_path)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        await self._client.__aexit__(exc_type, exc, tb)

    def message(self, part: Part, data: bytes) -> tuple[str, bytes]:
        """The topic and payload of ``part``'s image."""
        part_id = f"P-{part.part_id:06d}"
        topic = self.topic.format(line=self.line_name, part_id=part_id)
        if not self.header:
            return topic, data
        head = {"part_id": part_id, "ts": format_ns(part.t_ns), "line": self.line_name}
        return topic, json.dumps(head).encode() + b"\n" + data

    async def write(self, part: Part, image_format: str) -> str:
        """Publish ``part``'s image (QoS 1); return its topic once the broker has it."""
        data = await asyncio.to_thread(encode_image, part.image, image_format)
        topic, payload = self.message(part, data)
        await self._client.publish(topic, payload, qos=1, timeout=self.timeout_s)
        self.published += 1
        if self._truth is not None:
            self._truth.log(f"P-{part.part_id:06d}", part)
        return topic

    def close(self) -> None:
        """Close the ground-truth log."""
        if self._truth is not None:
            self._truth.close()
            self._truth = None
