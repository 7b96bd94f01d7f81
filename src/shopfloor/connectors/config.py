"""What every connector's settings share; each connector type extends it in its folder."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shopfloor.model import validate_segment
from shopfloor.retry import RetryPolicy

__all__ = ["ConnectorConfig", "JournalConfig", "ReconnectPolicy"]


def _name(value: str) -> str:
    return validate_segment(value, what="connector name")


class ReconnectPolicy(RetryPolicy):
    """How the engine reconnects every connector: the project's one retry policy.

    Set per connector as ``reconnect: {initial_s, max_s, multiplier, jitter}``; the same
    :class:`~shopfloor.retry.RetryPolicy` paces the store sink's retries.
    """


class JournalConfig(BaseModel):
    """The on-disk store-and-forward journal of a connector."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_bytes: int = Field(default=1024**3, gt=0, description="Size cap; oldest segments go first.")
    segment_bytes: int = Field(default=16 * 1024**2, gt=0)


class ConnectorConfig(BaseModel):
    """Settings every connector has. Connector types subclass this with their own fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    type: str
    enabled: bool = True
    reconnect: ReconnectPolicy = Field(default_factory=ReconnectPolicy)
    journal: JournalConfig = Field(default_factory=JournalConfig)
