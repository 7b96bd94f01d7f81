r"""Reading one MQTT message: a JSON scalar, a binary waveform block, or an image.

Pure functions of the payload bytes (no I/O), so they are tested alone and shared by the
connector and ``shopfloor mqtt listen``. Whatever cannot be read raises
:class:`~shopfloor.errors.PayloadRejected` (or an
:class:`~shopfloor.errors.ImageRejected`) naming the topic, the path and the value.

Image messages are the encoded image (PNG, JPEG, BMP, TIFF), or one line of JSON (an
object, no line breaks inside) then ``\n`` then the image::

    {"part_id": "P-000017", "ts": "2026-01-31T08:00:00.125Z"}\n<PNG bytes>

The header's ``part_id``, ``barcode`` and ``label`` become the image's attributes; the
``timestamp`` and ``quality`` paths read it as they read a JSON message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shopfloor.connectors.mqtt.config import MqttSignalOptions
from shopfloor.connectors.mqtt.jsonpath import JsonPath, PathNotFound, json_type
from shopfloor.errors import PayloadRejected
from shopfloor.model import Quality
from shopfloor.model.imaging import ImageInfo, inspect_image

__all__ = [
    "HEADER_ATTRIBUTES",
    "MAX_HEADER_BYTES",
    "ImageMessage",
    "MessageReader",
    "Reading",
    "parse_json",
    "split_image_header",
]

HEADER_ATTRIBUTES = ("part_id", "barcode", "label")
"""Keys of an image's JSON header (or topic captures) kept as its attributes."""
MAX_HEADER_BYTES = 64 * 1024
"""An image's JSON header line may be this long at most."""

_EPOCH_NS = {"epoch_s": 1_000_000_000, "epoch_ms": 1_000_000, "epoch_us": 1_000, "epoch_ns": 1}
_QUALITY_WORDS = {
    "good": (Quality.GOOD, 0),
    "uncertain": (Quality.UNCERTAIN, 0x40000000),
    "bad": (Quality.BAD, 0x80000000),
}


@dataclass(frozen=True, slots=True)
class Reading:
    """A scalar read from a JSON message."""

    ts_ns: int
    value: float
    quality: Quality
    status_code: int


@dataclass(frozen=True, slots=True)
class ImageMessage:
    """An image read from a message: bytes, what decoding found, time and attributes."""

    ts_ns: int
    data: bytes
    info: ImageInfo
    quality: Quality
    status_code: int
    attributes: dict[str, str]


def parse_json(payload: bytes, topic: str) -> Any:
    """The JSON document of ``payload``; ``PayloadRejected`` (``malformed_json``) if none."""
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError) as err:
        raise PayloadRejected(
            f"{topic}: malformed JSON ({len(payload)} bytes, starting {payload[:32]!r}): {err}",
            "malformed_json",
        ) from None


def split_image_header(payload: bytes, topic: str) -> tuple[dict[str, Any] | None, bytes]:
    """``(header, image bytes)`` of an image message; the header is ``None`` without one."""
    if not payload.startswith(b"{"):
        return None, payload
    end = payload.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if end < 0:
        raise PayloadRejected(
            f"{topic}: image message starts with '{{' but has no header line (one line of "
            f"JSON, then a line break, within {MAX_HEADER_BYTES} bytes)",
            "malformed_json",
        )
    header = parse_json(payload[:end], f"{topic}: image header")
    if not isinstance(header, dict):
        raise PayloadRejected(f"{topic}: image header is not a JSON object", "wrong_type")
    return header, payload[end + 1 :]


class MessageReader:
    """Reads the messages of one topic pattern as its options say."""

    def __init__(self, options: MqttSignalOptions) -> None:
        self.options = options
        self.value = JsonPath.parse(options.value)
        self.timestamp = None if options.timestamp is None else JsonPath.parse(options.timestamp)
        self.quality = None if options.quality is None else JsonPath.parse(options.quality)

    def _pick(self, document: Any, path: JsonPath, what: str, topic: str) -> Any:
        try:
            return path.get(document)
        except PathNotFound as err:
            raise PayloadRejected(f"{topic}: no {what} at {err}", "missing_path") from None

    def _time(self, document: Any, topic: str, received_ns: int) -> int:
        if self.timestamp is None:
            return received_ns
        raw = self._pick(document, self.timestamp, "timestamp", topic)
        fmt = self.options.timestamp_format
        if fmt == "iso":
            if isinstance(raw, str):
                ns = _iso_ns(raw)
                if ns is not None:
                    return ns
                problem = "not ISO 8601 (2026-01-31T08:00:00.125Z)"
            else:
                problem = (
                    "not ISO 8601 text (a number needs timestamp_format epoch_s, epoch_ms, "
                    "epoch_us or epoch_ns)"
                )
        elif isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            problem = f"not a number ({fmt})"
        else:
            ns = raw * _EPOCH_NS[fmt] if isinstance(raw, int) else round(raw * _EPOCH_NS[fmt])
            if -(2**63) <= ns < 2**63:
                return int(ns)
            problem = f"out of range for {fmt}"
        raise PayloadRejected(
            f"{topic}: timestamp at {self.timestamp.text} is {raw!r}, {problem}", "bad_timestamp"
        )

    def _quality(self, document: Any, topic: str) -> tuple[Quality, int]:
        if self.quality is None:
            return Quality.GOOD, 0
        raw = self._pick(document, self.quality, "quality", topic)
        if isinstance(raw, bool):
            return (Quality.GOOD, 0) if raw else (Quality.BAD, 0x80000000)
        if isinstance(raw, int) and 0 <= raw < 2**32:
            return Quality.from_status_code(raw), raw
        if isinstance(raw, str) and raw.strip().lower() in _QUALITY_WORDS:
            return _QUALITY_WORDS[raw.strip().lower()]
        raise PayloadRejected(
            f"{topic}: quality at {self.quality.text} is {raw!r}; use good, uncertain, bad, "
            "true/false or an OPC UA status code (0 … 2**32-1)",
            "bad_quality",
        )

    def scalar(self, payload: bytes, topic: str, received_ns: int) -> Reading:
        """The value, time and quality of a JSON message.

        A number or a boolean (1.0 / 0.0) is a value; ``null`` is taken (as NaN) only with
        a bad quality; anything else is a ``wrong_type``.
        """
        return self.read(parse_json(payload, topic), topic, received_ns)

    def read(self, document: Any, topic: str, received_ns: int) -> Reading:
        """:meth:`scalar` of a document already parsed (one message, several signals)."""
        raw = self._pick(document, self.value, "value", topic)
        quality, status = self._quality(document, topic)
        ts_ns = self._time(document, topic, received_ns)
        if isinstance(raw, bool):
            value = float(raw)
        elif isinstance(raw, int | float):
            try:
                value = float(raw)
            except OverflowError:
                raise PayloadRejected(
                    f"{topic}: value at {self.value.text} is too large for a float64",
                    "wrong_type",
                ) from None
        elif raw is None and quality == Quality.BAD:
            value = math.nan
        else:
            raise PayloadRejected(
                f"{topic}: value at {self.value.text} is {_describe(raw)}, not a number",
                "wrong_type",
            )
        return Reading(ts_ns, value, quality, status)

    def image(
        self, payload: bytes, topic: str, received_ns: int, *, max_bytes: int
    ) -> ImageMessage:
        """The image of a message, checked by decoding it (``ImageRejected`` if not one)."""
        header, data = split_image_header(payload, topic)
        attributes: dict[str, str] = {}
        if header is None:
            if self.timestamp is not None or self.quality is not None:
                raise PayloadRejected(
                    f"{topic}: image without a JSON header, but timestamp or quality is "
                    "read from one",
                    "missing_path",
                )
            ts_ns, (quality, status) = received_ns, (Quality.GOOD, 0)
        else:
            ts_ns = self._time(header, topic, received_ns)
            quality, status = self._quality(header, topic)
            for key in HEADER_ATTRIBUTES:
                value = header.get(key)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, str | int):
                    raise PayloadRejected(
                        f"{topic}: image header {key} is {_describe(value)}, not text",
                        "wrong_type",
                    )
                attributes[key] = str(value)
        info = inspect_image(data, name=topic, max_bytes=max_bytes)
        return ImageMessage(ts_ns, data, info, quality, status, attributes)


def _iso_ns(text: str) -> int | None:
    """UTC nanoseconds of ISO 8601 ``text`` (no zone: UTC), or ``None`` when it is not."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return ns + _sub_microseconds(text)


def _sub_microseconds(text: str) -> int:
    """Nanoseconds beyond the microsecond that ``datetime`` drops (``.123456789``)."""
    dot = text.find(".")
    if dot < 0:
        return 0
    digits = ""
    for char in text[dot + 1 :]:
        if not char.isdigit():
            break
        digits += char
    return int(digits[6:9].ljust(3, "0")) if len(digits) > 6 else 0


def _describe(value: Any) -> str:
    kind = json_type(value)
    if kind == "text":
        return f"text {value[:40]!r}"
    if kind == "list":
        return f"a list of {len(value)}"
    return {"null": "null", "object": "an object"}.get(kind, repr(value))
