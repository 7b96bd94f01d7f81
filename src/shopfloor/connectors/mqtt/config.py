"""Settings of an MQTT connector: the broker, and which topics feed which signals."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.mqtt.connection import MqttBrokerSettings
from shopfloor.connectors.mqtt.jsonpath import JsonPath
from shopfloor.connectors.mqtt.topics import TopicPattern, template_fields
from shopfloor.model import SignalKind, validate_asset_path, validate_segment

__all__ = [
    "PAYLOAD_KINDS",
    "PAYLOAD_SIGNAL_KIND",
    "TIMESTAMP_FORMATS",
    "MqttConfig",
    "MqttSignalOptions",
    "PayloadKind",
    "TopicRoute",
]

PayloadKind = Literal["json", "waveform", "image"]
PAYLOAD_KINDS: tuple[PayloadKind, ...] = ("json", "waveform", "image")
TimestampFormat = Literal["iso", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns"]
TIMESTAMP_FORMATS: tuple[TimestampFormat, ...] = (
    "iso",
    "epoch_s",
    "epoch_ms",
    "epoch_us",
    "epoch_ns",
)


_KIND_PAYLOAD: dict[SignalKind, PayloadKind] = {
    SignalKind.WAVEFORM: "waveform",
    SignalKind.IMAGE: "image",
}
PAYLOAD_SIGNAL_KIND: dict[PayloadKind, SignalKind] = {
    "json": SignalKind.SCALAR,
    "waveform": SignalKind.WAVEFORM,
    "image": SignalKind.IMAGE,
}
"""The kind of signal each payload feeds."""


class MqttSignalOptions(BaseModel):
    """How to read a message (``source_options`` of a signal bound to an MQTT connector).

    ``payload`` is ``json`` (a scalar picked from a JSON document by the paths below),
    ``waveform`` (a binary block, see :mod:`shopfloor.connectors.mqtt.waveform`) or
    ``image`` (encoded image bytes, optionally after one line of JSON header). The paths
    (see :mod:`shopfloor.connectors.mqtt.jsonpath`) apply to the JSON document, or to an
    image's header.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    payload: PayloadKind | None = Field(
        default=None, description="json, waveform or image (default: by the signal's kind)."
    )
    value: str = Field(default="$", description="Path of the value ($: the whole payload).")
    timestamp: str | None = Field(
        default=None, description="Path of the source time (none: the time of receipt)."
    )
    timestamp_format: TimestampFormat = Field(
        default="iso",
        description="iso for text with a zone; epoch_s/ms/us/ns for numbers.",
    )
    quality: str | None = Field(
        default=None,
        description="Path of the quality: good/uncertain/bad, true/false, or an OPC UA "
        "status code (a number).",
    )

    @field_validator("value", "timestamp", "quality")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            JsonPath.parse(value)
        return value

    @model_validator(mode="after")
    def _kind(self) -> Self:
        if self.payload is not None:
            problem = self.payload_problem(self.payload)
            if problem is not None:
                raise ValueError(problem)
        return self

    def payload_problem(self, payload: PayloadKind) -> str | None:
        """What in these options does not apply to ``payload``, or None."""
        if payload == "waveform" and (
            self.value != "$" or self.timestamp is not None or self.quality is not None
        ):
            return (
                "a waveform payload carries its own time and samples: value, timestamp "
                "and quality are for json and image payloads"
            )
        if payload == "image" and self.value != "$":
            return "an image payload has no value path (the image is the value)"
        return None

    def payload_for(self, kind: SignalKind | None) -> PayloadKind:
        """The payload: as given, else by the kind of the signal (json for scalars)."""
        if self.payload is not None:
            return self.payload
        return _KIND_PAYLOAD.get(kind, "json") if kind is not None else "json"


class TopicRoute(MqttSignalOptions):
    """Topics of one pattern feeding many signals, named by what the topic captures.

    Example::

        topics:
          - topic: acme/+line/+machine/+signal       # +name captures one level
            asset: acme/plant1/packaging/{line}/{machine}
            signal: '{signal}'
            value: data.v
            timestamp: data.ts
            timestamp_format: epoch_ms
    """

    topic: str = Field(description="Topic pattern: MQTT wildcards, + or # with a name.")
    asset: str = Field(description="ISA-95 asset path; {name} fills in a capture.")
    signal: str = Field(default="{signal}", description="Signal name; {name} as in asset.")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        TopicPattern.parse(value)
        return value

    @model_validator(mode="after")
    def _templates(self) -> Self:
        captured = set(TopicPattern.parse(self.topic).names)
        for field_name in ("asset", "signal"):
            template = getattr(self, field_name)
            unknown = sorted(template_fields(template) - captured)
            if unknown:
                raise ValueError(
                    f"{field_name} {template!r} uses {{{unknown[0]}}}, which topic "
                    f"{self.topic!r} does not capture (captures: "
                    f"{', '.join(sorted(captured)) or 'none'})"
                )
            if not template_fields(template):
                check = validate_asset_path if field_name == "asset" else validate_segment
                check(template)
        return self


class MqttConfig(ConnectorConfig, MqttBrokerSettings):
    """One MQTT broker, and the topics the platform takes from it.

    The broker keys (``host``, ``port``, ``tls``, credentials, ``qos``,
    ``persistent_session`` …) are those of
    :class:`~shopfloor.connectors.mqtt.connection.MqttBrokerSettings`. Signals bound to
    the connector give their topic (a pattern) as ``source`` and how to read the payload
    in ``source_options`` (:class:`MqttSignalOptions`); ``topics`` maps many topics to
    many signals at once (:class:`TopicRoute`). A message feeds every bound signal whose
    topic matches it (each reads its own value path), or else the first route of
    ``topics`` that matches.

    Example::

        - name: line1
          type: mqtt
          host: 127.0.0.1
          port: 1883
          topics:
            - topic: acme/+line/+machine/+signal
              asset: acme/plant1/packaging/{line}/{machine}
              value: v
              timestamp: ts
    """

    signal_options: ClassVar[builtins.type[BaseModel]] = MqttSignalOptions

    type: Literal["mqtt"] = "mqtt"
    topics: list[TopicRoute] = Field(default_factory=list)
    max_image_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="Larger image messages are refused."
    )
    flush_interval_ms: float = Field(
        default=100.0, gt=0, description="How long scalar values are batched before handing on."
    )

    def source_problem(self, source: str, options: Mapping[str, Any]) -> str | None:
        """A topic pattern that cannot be parsed."""
        try:
            TopicPattern.parse(source)
        except ValueError as err:
            return str(err)
        return None
