"""What every connector's settings share; each connector type extends it in its folder."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shopfloor.model import validate_segment
from shopfloor.retry import RetryPolicy

__all__ = ["ConnectorConfig", "JournalConfig", "NoSignalOptions", "ReconnectPolicy"]


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


class NoSignalOptions(BaseModel):
    """The ``source_options`` of a connector type that takes none: any key is refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ConnectorConfig(BaseModel):
    """Settings every connector has. Connector types subclass this with their own fields.

    A subclass names the model of its signals' ``source_options`` in :attr:`signal_options`,
    so ``shopfloor validate`` checks every signal bound to it, with file and line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal_options: ClassVar[builtins.type[BaseModel]] = NoSignalOptions
    """Model of ``source_options`` of the signals bound to a connector of this type."""

    def option_models(self) -> dict[str, builtins.type[BaseModel]]:
        """Fields holding free options (a mapping) → the model that checks them.

        A connector type whose settings include options read by another part (a replay
        connector's recording ``options``) names their model here, so ``shopfloor validate``
        checks them too. None by default.
        """
        return {}

    def source_problem(self, source: str, options: Mapping[str, Any]) -> str | None:
        """What is wrong with a signal's ``source`` (with its ``source_options``), or None.

        ``shopfloor validate`` asks each connector about every signal bound to it, so an
        address the connector could not read is reported with the file and line before
        the platform runs. Nothing is checked by default.
        """
        return None

    name: Annotated[str, AfterValidator(_name)]
    type: str
    enabled: bool = True
    reconnect: ReconnectPolicy = Field(default_factory=ReconnectPolicy)
    journal: JournalConfig = Field(default_factory=JournalConfig)
