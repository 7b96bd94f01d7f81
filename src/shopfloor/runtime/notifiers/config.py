"""Notifiers in the project file: where alerts are sent (webhook, MQTT, email).

Each entry has a ``type``; its other keys are checked by that type's model, so a typo in
any of them is reported by ``shopfloor validate`` with its file and line. Secrets
(``secret``, ``password``) are kept out of logs and ``repr``.
"""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator

from shopfloor.model import validate_segment

__all__ = [
    "NOTIFIER_TYPES",
    "SEVERITIES",
    "EmailNotifierConfig",
    "MqttNotifierConfig",
    "NotifierConfig",
    "Severity",
    "WebhookNotifierConfig",
]

Severity = Literal["info", "warning", "alarm", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "alarm", "critical")
"""From the least to the most severe."""

TOPIC_FIELDS = frozenset({"asset", "rule", "severity", "state"})


def _name(value: str) -> str:
    return validate_segment(value, what="notifier name")


class _Notifier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    min_severity: Severity = Field(
        default="warning", description="Send alerts of this severity and above."
    )
    attempts: int = Field(
        default=5, ge=1, le=100, description="Deliveries tried before one is given up."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="Per delivery attempt.")


class WebhookNotifierConfig(_Notifier):
    """An HTTP POST of the alert as JSON, signed with HMAC-SHA256 when ``secret`` is set.

    The signature is ``X-Shopfloor-Signature: sha256=<hex>`` over
    ``<X-Shopfloor-Timestamp>.<body>``, so a receiver can reject replays.
    """

    type: Literal["webhook"]
    url: str = Field(description="http:// or https:// address that receives the POST.")
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// address, got {value!r}")
        return value


class MqttNotifierConfig(_Notifier):
    """A publish of the alert as JSON to ``topic`` (``{asset}``, ``{rule}`` … filled in)."""

    type: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = "shopfloor/v1/alerts/{asset}/{rule}"
    qos: Literal[0, 1, 2] = 1
    retain: bool = False
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False

    @field_validator("topic")
    @classmethod
    def _template(cls, value: str) -> str:
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = sorted(fields - TOPIC_FIELDS)
        if unknown:
            raise ValueError(
                f"topic {value!r} uses {{{unknown[0]}}}; it may use "
                + ", ".join(f"{{{f}}}" for f in sorted(TOPIC_FIELDS))
            )
        if "#" in value or "+" in value:
            raise ValueError(f"topic {value!r} has a wildcard; a publish needs a plain topic")
        return value


class EmailNotifierConfig(_Notifier):
    """An email through an SMTP server."""

    type: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(description="The From address.")
    to: list[str] = Field(min_length=1, description="Recipients.")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="'none' only for a relay on a trusted network."
    )
    username: str | None = None
    password: SecretStr | None = None

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, value: str | list[str]) -> str | list[str]:
        for address in [value] if isinstance(value, str) else value:
            if "@" not in address.strip("<>").rpartition(" ")[2]:
                raise ValueError(f"{address!r} is not an email address")
        return value


NotifierConfig = Annotated[
    WebhookNotifierConfig | MqttNotifierConfig | EmailNotifierConfig,
    Field(discriminator="type"),
]
"""One entry of the project file's ``notifiers:`` list."""

NOTIFIER_TYPES: dict[
    str, type[WebhookNotifierConfig | MqttNotifierConfig | EmailNotifierConfig]
] = {
    "webhook": WebhookNotifierConfig,
    "mqtt": MqttNotifierConfig,
    "email": EmailNotifierConfig,
}
"""Each notifier ``type`` and the model of its entry."""
