"""What every connector's settings share; each connector type extends it in its folder."""

from __future__ import annotations

import builtins
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shopfloor.model import validate_segment

__all__ = ["ConnectorConfig", "JournalConfig", "NoSignalOptions", "ReconnectPolicy"]


def _name(value: str) -> str:
    return validate_segment(value, what="connector name")


class ReconnectPolicy(BaseModel):
    """Capped exponential backoff with jitter, owned by the engine for every connector."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(
        default=4.0, gt=0, description="Cap, so a server that is back is seen within seconds."
    )
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="Fraction of the delay.")

    @model_validator(mode="after")
    def _check(self) -> ReconnectPolicy:
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s ({self.max_s}) is smaller than initial_s ({self.initial_s})")
        return self


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

    name: Annotated[str, AfterValidator(_name)]
    type: str
    enabled: bool = True
    reconnect: ReconnectPolicy = Field(default_factory=ReconnectPolicy)
    journal: JournalConfig = Field(default_factory=JournalConfig)
