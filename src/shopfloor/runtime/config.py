"""Deployments and alert rules in the project file."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shopfloor.model import validate_segment

__all__ = ["AlertRuleConfig", "DeploymentConfig", "WritebackConfig"]


def _name(value: str) -> str:
    return validate_segment(value, what="name")


class DeploymentConfig(BaseModel):
    """A model running on live data: ``shadow`` scores without alerting, ``active`` alerts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    model: str
    version: str = Field(default="latest")
    mode: Literal["shadow", "active"] = "shadow"


class WritebackConfig(BaseModel):
    """Where an alert is written back to the machine. Only addresses listed here are written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connector: str
    address: str
    value: str | float | bool = True


class AlertRuleConfig(BaseModel):
    """When a signal or a deployment's score becomes an alert.

    The alert raises when the value is beyond ``threshold`` for ``for_s`` seconds and
    clears when it has been back beyond ``threshold - hysteresis`` (for ``above``) for as
    long.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    signal: str | None = Field(default=None, description="asset/signal path of a scalar signal.")
    deployment: str | None = Field(default=None, description="Alert on this deployment's score.")
    condition: Literal["above", "below"] = "above"
    threshold: float
    hysteresis: float = Field(default=0.0, ge=0)
    for_s: float = Field(default=0.0, ge=0, description="Persistence before raising.")
    severity: Literal["info", "warning", "alarm", "critical"] = "warning"
    writeback: WritebackConfig | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.signal is None) == (self.deployment is None):
            raise ValueError("give exactly one of 'signal' or 'deployment'")
        return self
