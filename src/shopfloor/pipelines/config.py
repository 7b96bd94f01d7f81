"""Pipelines in the project file: sources → resampling → windows → steps → outputs.

Example::

    pipelines:
      - name: spindle-health
        asset: acme/plant1/machining/line1/cell1/cnc-01
        sources: [spindle_accel]
        context: [spindle_speed, program_number, tool_number]
        window: {length_s: 1.0}
        when: {signal: spindle_speed, between: [7500, 8500]}
        regime: {signal: spindle_speed, edges: [0, 3000, 9000, 15000]}
        steps:
          - features: {features: [rms, kurtosis, crest_factor, envelope.bpfo]}
        outputs:
          - store: {prefix: "health."}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shopfloor.model import AssetPath, validate_segment

__all__ = [
    "GateConfig",
    "OutputConfig",
    "PipelineConfig",
    "RegimeConfig",
    "StepConfig",
    "WindowConfig",
]


def _name(value: str) -> str:
    return validate_segment(value, what="pipeline name")


class WindowConfig(BaseModel):
    """Window length and hop, by time or by samples; hop defaults to the length (tumbling).

    ``align``: ``epoch`` (windows start on a grid of ``hop`` counted from 1970) or
    ``capture`` (from the first sample of each capture: a run of contiguous blocks).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    length_s: float | None = Field(default=None, gt=0)
    length_samples: int | None = Field(default=None, gt=0)
    hop_s: float | None = Field(default=None, gt=0)
    hop_samples: int | None = Field(default=None, gt=0)
    align: Literal["epoch", "capture"] = "epoch"

    @model_validator(mode="after")
    def _one_length(self) -> Self:
        if (self.length_s is None) == (self.length_samples is None):
            raise ValueError("give exactly one of length_s or length_samples")
        if self.hop_s is not None and self.hop_samples is not None:
            raise ValueError("give at most one of hop_s or hop_samples")
        return self


class GateConfig(BaseModel):
    """Only take windows while the machine is in this operating state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal: str = Field(description="A scalar signal of the asset (speed, program, state).")
    between: tuple[float, float] | None = None
    equals: float | None = None
    one_of: list[float] | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        rules = [self.between is not None, self.equals is not None, self.one_of is not None]
        if sum(rules) != 1:
            raise ValueError("give exactly one of between, equals or one_of")
        if self.between is not None and not self.between[0] < self.between[1]:
            raise ValueError(f"between must be [low, high] with low < high, got {self.between}")
        return self


class RegimeConfig(BaseModel):
    """Label each window with the band its operating signal falls in (speed bands, say)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal: str
    edges: list[float] = Field(min_length=2)

    @model_validator(mode="after")
    def _sorted(self) -> Self:
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"regime edges must increase, got {self.edges}")
        return self


class StepConfig(BaseModel):
    """One step: ``{<kind>: {params}}`` in YAML, e.g. ``{features: {features: [rms]}}``.

    ``params`` are checked against the kind's model in
    :data:`shopfloor.pipelines.params.STEP_PARAMS` by ``shopfloor validate``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict) and "kind" not in value and len(value) == 1:
            ((kind, params),) = value.items()
            return {"kind": kind, "params": params or {}}
        if isinstance(value, str):
            return {"kind": value, "params": {}}
        return value


class OutputConfig(BaseModel):
    """Where results go: ``store`` (new signals of the asset), ``bus`` (a topic), ``alert``.

    ``params`` are checked against :data:`shopfloor.pipelines.params.OUTPUT_PARAMS`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["store", "bus", "alert"]
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict) and "kind" not in value and len(value) == 1:
            ((kind, params),) = value.items()
            return {"kind": kind, "params": params or {}}
        if isinstance(value, str):
            return {"kind": value, "params": {}}
        return value


class PipelineConfig(BaseModel):
    """A declarative pipeline over the signals of one asset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    asset: AssetPath
    sources: list[str] = Field(min_length=1, description="Signals of the asset to window.")
    context: list[str] = Field(
        default_factory=list, description="Scalar signals whose value each window carries."
    )
    resample_hz: float | None = Field(default=None, gt=0)
    window: WindowConfig
    when: GateConfig | None = None
    regime: RegimeConfig | None = None
    steps: list[StepConfig] = Field(default_factory=list)
    outputs: list[OutputConfig] = Field(default_factory=list)
