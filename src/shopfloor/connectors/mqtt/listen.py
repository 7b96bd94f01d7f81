"""What a device publishes, seen from its messages: topics, payload kinds, fields, rates.

``shopfloor mqtt listen`` feeds every message it receives to :meth:`Listened.add`; the
result says, per topic, how many messages came and how fast, what kind of payload they
carry (JSON, a waveform block, an image, text or other bytes) and, for JSON, each field's
path and value types. :func:`export_signals` writes it as a connector and signals to
paste into ``factory.yaml``. Pure: no network, no clock.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shopfloor.connectors.mqtt.jsonpath import format_steps, json_type
from shopfloor.connectors.mqtt.payloads import split_image_header
from shopfloor.connectors.mqtt.waveform import MAGIC, decode_waveform
from shopfloor.errors import RecordError
from shopfloor.model.imaging import inspect_image

__all__ = ["FieldSeen", "Listened", "TopicSeen", "export_signals", "payload_kind_of"]

MAX_FIELDS = 64
"""Fields remembered per topic (the first found)."""
MAX_DEPTH = 6
"""How deep a JSON document is walked (lists: their first item)."""
TIME_KEYS = frozenset({"ts", "t", "time", "timestamp", "datetime", "date_time", "time_stamp"})
QUALITY_KEYS = frozenset({"q", "quality", "status", "status_code", "statuscode"})
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_BAD_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class FieldSeen:
    """One leaf of the JSON messages of a topic: its path, value types and an example."""

    path: str
    key: str
    types: Counter[str] = field(default_factory=Counter)
    example: Any = None

    @property
    def numeric(self) -> bool:
        """Whether every value seen is a number or a boolean."""
        return bool(self.types) and set(self.types) <= {"number", "boolean"}


@dataclass
class TopicSeen:
    """What came on one topic."""

    topic: str
    messages: int = 0
    bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    fields: dict[str, FieldSeen] = field(default_factory=dict)
    waveform: dict[str, Any] | None = None
    image: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """The payload kind most of its messages had."""
        return self.kinds.most_common(1)[0][0] if self.kinds else "none"

    def rate_hz(self, seconds: float) -> float:
        """Messages per second over a listening time of ``seconds``."""
        return self.messages / seconds if seconds > 0 else 0.0


def payload_kind_of(payload: bytes, topic: str = "message") -> tuple[str, Any]:
    """``(kind, what was found)``: json (the document), waveform, image, text or binary."""
    if payload.startswith(MAGIC):
        try:
            block = decode_waveform(payload)
        except RecordError:
            return "binary", None
        channels = 1 if block.data.ndim == 1 else int(block.data.shape[1])
        return "waveform", {
            "sample_rate_hz": block.sample_rate_hz,
            "samples": int(block.data.shape[0]),
            "channels": channels,
        }
    try:
        return "json", json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        pass
    try:
        header, data = split_image_header(payload, topic)
        info = inspect_image(data, name=topic)
    except RecordError:
        pass
    else:
        found = {"format": info.format, "shape": list(info.shape)}
        if header is not None:
            found["header"] = sorted(header)
        return "image", found
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", None
    return "text", None


def _type_of(value: Any) -> str:
    """:func:`json_type`, with text that reads as an ISO 8601 time apart (``time text``)."""
    if isinstance(value, str) and _ISO.match(value):
        return "time text"
    return json_type(value)


def _leaves(document: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """``(steps, value)`` of the leaves of ``document`` (a list: its first item)."""
    out: list[tuple[tuple[str | int, ...], Any]] = []
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while pending and len(out) < MAX_FIELDS:
        steps, value = pending.pop(0)
        if isinstance(value, dict) and value and len(steps) < MAX_DEPTH:
            pending.extend(((*steps, str(k)), v) for k, v in value.items())
        elif isinstance(value, list) and value and len(steps) < MAX_DEPTH:
            pending.append(((*steps, 0), value[0]))
        else:
            out.append((steps, value))
    return out


@dataclass
class Listened:
    """Everything seen while listening, by topic (in the order topics first came)."""

    topics: dict[str, TopicSeen] = field(default_factory=dict)

    def add(self, topic: str, payload: bytes, received_ns: int) -> None:
        """Take one message into account."""
        seen = self.topics.get(topic)
        if seen is None:
            seen = self.topics[topic] = TopicSeen(topic, first_ns=received_ns)
        seen.messages += 1
        seen.bytes += len(payload)
        seen.last_ns = received_ns
        kind, found = payload_kind_of(payload, topic)
        seen.kinds[kind] += 1
        if kind == "waveform":
            seen.waveform = found
        elif kind == "image":
            seen.image = found
        elif kind == "json":
            for steps, value in _leaves(found):
                path = format_steps(steps)
                leaf = seen.fields.get(path)
                if leaf is None:
                    if len(seen.fields) >= MAX_FIELDS:
                        continue
                    key = next((s for s in reversed(steps) if isinstance(s, str)), "")
                    leaf = seen.fields[path] = FieldSeen(path, key, example=value)
                leaf.types[_type_of(value)] += 1

    def as_rows(self, seconds: float) -> list[dict[str, Any]]:
        """JSON-able summary, one item per topic."""
        rows = []
        for seen in self.topics.values():
            rows.append(
                {
                    "topic": seen.topic,
                    "messages": seen.messages,
                    "rate_hz": round(seen.rate_hz(seconds), 3),
                    "bytes": seen.bytes,
                    "kind": seen.kind,
                    "kinds": dict(seen.kinds),
                    "fields": {
                        f.path: {"types": dict(f.types), "example": f.example}
                        for f in seen.fields.values()
                    },
                    "waveform": seen.waveform,
                    "image": seen.image,
                }
            )
        return rows


def _name(text: str) -> str:
    name = _BAD_NAME.sub("_", text).strip("_.-")[:64]
    return name if name and name[0].isalnum() else f"s_{name}"[:64]


def _time_options(fields: list[FieldSeen]) -> dict[str, Any]:
    for leaf in fields:
        if leaf.key.lower() not in TIME_KEYS:
            continue
        if "time text" in leaf.types:
            return {"timestamp": leaf.path}
        if leaf.types.keys() == {"number"} and isinstance(leaf.example, int | float):
            magnitude = abs(leaf.example)
            unit = (
                "epoch_ns"
                if magnitude > 1e17
                else "epoch_us"
                if magnitude > 1e14
                else "epoch_ms"
                if magnitude > 1e11
                else "epoch_s"
            )
            return {"timestamp": leaf.path, "timestamp_format": unit}
    return {}


def _quality_options(fields: list[FieldSeen]) -> dict[str, Any]:
    leaf = next((f for f in fields if f.key.lower() in QUALITY_KEYS), None)
    return {} if leaf is None else {"quality": leaf.path}


def export_signals(
    listened: Listened, connector: str, host: str, port: int, *, note: str = ""
) -> tuple[str, int]:
    """YAML of a connector entry and one signal per value seen, to paste into factory.yaml.

    Returns the text and how many signals it holds.

    A JSON topic gives one signal per numeric field (not its time or quality, which
    become the ``timestamp`` and ``quality`` paths of the others); a waveform topic a
    waveform signal with the rate and channels seen; an image topic an image signal.
    Text and other payloads are left out (listed in a comment).
    """
    import yaml

    signals: list[dict[str, Any]] = []
    left_out: list[str] = []
    names: Counter[str] = Counter()

    def unique(base: str) -> str:
        name = _name(base)
        names[name] += 1
        return name if names[name] == 1 else _name(f"{name}_{names[name]}")

    for seen in listened.topics.values():
        last_level = seen.topic.rstrip("/").rsplit("/", 1)[-1] or "value"
        entry: dict[str, Any] = {"connector": connector, "source": seen.topic}
        if seen.kind == "waveform" and seen.waveform is not None:
            signal: dict[str, Any] = {
                "name": unique(last_level),
                "kind": "waveform",
                "sample_rate_hz": seen.waveform["sample_rate_hz"],
            }
            if seen.waveform["channels"] > 1:
                signal["channels"] = [f"ch{i}" for i in range(seen.waveform["channels"])]
            signals.append({**signal, **entry})
        elif seen.kind == "image":
            signals.append({"name": unique(last_level), "kind": "image", **entry})
        elif seen.kind == "json":
            fields = list(seen.fields.values())
            options = {**_time_options(fields), **_quality_options(fields)}
            special = {options.get("timestamp"), options.get("quality")}
            values = [f for f in fields if f.numeric and f.path not in special]
            if not values:
                left_out.append(f"{seen.topic} (JSON without a numeric field)")
            for leaf in values:
                base = last_level if leaf.path == "$" or len(values) == 1 else leaf.key
                source_options = {"value": leaf.path, **options}
                signals.append({"name": unique(base), **entry, "source_options": source_options})
        else:
            left_out.append(f"{seen.topic} ({seen.kind})")
    head = [
        f"# exported by shopfloor mqtt listen from mqtt://{host}:{port}{note}",
        "# paste the connector under 'connectors:' and the signals under an asset's",
        "# 'signals:' (rename them; add units). Not exported:" if left_out else "",
        *[f"#   {item}" for item in left_out],
    ]
    document = {
        "connectors": [{"name": connector, "type": "mqtt", "host": host, "port": port}],
        "signals": signals,
    }
    text = "\n".join(line for line in head if line) + "\n"
    return text + yaml.safe_dump(document, sort_keys=False), len(signals)
