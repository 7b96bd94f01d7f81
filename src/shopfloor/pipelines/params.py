"""The parameters of every pipeline step and output kind, as pydantic models.

A step is written ``{<kind>: {params}}`` in the project file; :data:`STEP_PARAMS` gives the
model of each kind's ``params`` and :data:`OUTPUT_PARAMS` that of each output kind, so
``shopfloor validate`` refuses a misspelt parameter with its file and line before a step is
ever built. The models only declare and check; the steps in
:mod:`shopfloor.pipelines.steps` and the outputs in :mod:`shopfloor.pipelines.outputs`
still take the same mappings.

Examples
--------
>>> ScalerParams.model_validate({"method": "standard"}).by_regime
False
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfloor.model import BearingGeometry

__all__ = [
    "MOVED_TO_MODELS",
    "OUTPUT_PARAMS",
    "STEP_PARAMS",
    "AlertOutputParams",
    "BusOutputParams",
    "FeaturesParams",
    "ModelParams",
    "ScalerParams",
    "StoreOutputParams",
    "moved_model_message",
]

Band = tuple[float, float]


MOVED_TO_MODELS = ("isolation_forest",)
"""Model types that left the pipeline step for the project file's ``models:`` section."""


def moved_model_message(model_type: str) -> str:
    """Why a pipeline ``model`` step refuses ``model_type``, and where it goes instead."""
    return (
        f"model step: type {model_type!r} is no longer a pipeline step (its fitted state "
        "would have to be pickled); declare it in the project file's models: section "
        f"(- name: ..., type: {model_type}, pipeline: <this pipeline>) and keep "
        "'type: zscore' here"
    )


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeaturesParams(_Params):
    """``features``: the keywords of :class:`~shopfloor.features.FeatureSet`, plus two.

    ``speed`` names a context signal giving the shaft speed of each window; ``bearing`` is
    ``asset`` (the asset's geometry, the default), ``null`` or an explicit geometry.
    """

    features: list[str] | None = Field(
        default=None, description="Names or patterns of the features; None: all."
    )
    speed: str | None = Field(default=None, description="Context signal with the shaft speed.")
    bearing: Literal["asset"] | BearingGeometry | None = "asset"
    unit: str = "g"
    window: str = "hann"
    bands_hz: list[Band] = Field(default_factory=list)
    bands_orders: list[Band] = Field(default_factory=list)
    n_peaks: int = Field(default=3, ge=1)
    envelope_band: Literal["auto"] | Band = "auto"
    envelope_min_bandwidth_hz: float = Field(default=500.0, gt=0)
    envelope_squared: bool = True
    n_harmonics: int = Field(default=3, ge=1)
    tolerance: float = Field(default=0.02, ge=0, lt=0.5)
    velocity_band_hz: Band = (10.0, 1000.0)
    machine_class: Literal["I", "II", "III", "IV"] = "II"
    nominal_shaft_hz: float | None = Field(default=None, gt=0)

    @field_validator("features", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ScalerParams(_Params):
    """``scaler``: ``standard`` (mean, std) or ``robust`` (median, IQR), maybe per regime."""

    method: Literal["standard", "robust"] = "robust"
    by_regime: bool = False


class ModelParams(_Params):
    """``model``: an anomaly model over the feature columns, adding the ``output`` column."""

    type: Literal["zscore"] = "zscore"
    params: dict[str, Any] = Field(default_factory=dict, description="None for zscore.")
    columns: list[str] | None = Field(default=None, description="Input columns; None: all.")
    output: str = "anomaly_score"

    @field_validator("type", mode="before")
    @classmethod
    def _moved_to_models(cls, value: Any) -> Any:
        if value in MOVED_TO_MODELS:
            raise ValueError(moved_model_message(str(value)))
        return value


class StoreOutputParams(_Params):
    """``store``: columns become derived signals ``<prefix><column>`` of the asset."""

    prefix: str | None = Field(default=None, description="Default: '<pipeline>.'.")
    columns: list[str] | None = Field(default=None, description="Patterns; None: all.")


class BusOutputParams(StoreOutputParams):
    """``bus``: the same records published on ``topic``."""

    topic: str = Field(min_length=1)


class AlertOutputParams(_Params):
    """``alert``: a threshold on one column, with persistence and hysteresis."""

    column: str
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(default=0.0, ge=0)
    for_s: float = Field(default=0.0, ge=0)
    clear_for_s: float | None = Field(default=None, ge=0)
    severity: Literal["info", "warning", "alarm", "critical"] = "warning"
    signal: str | None = Field(default=None, description="Default: '<pipeline>.alert'.")
    name: str | None = Field(default=None, description="Default: '<pipeline>.<column>'.")

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        return self


STEP_PARAMS: dict[str, type[BaseModel]] = {
    "features": FeaturesParams,
    "scaler": ScalerParams,
    "model": ModelParams,
}
"""Step kind (the YAML key) → model of its parameters; one entry per ``STEP_KINDS`` entry."""

OUTPUT_PARAMS: dict[str, type[BaseModel]] = {
    "store": StoreOutputParams,
    "bus": BusOutputParams,
    "alert": AlertOutputParams,
}
"""Output kind → model of its parameters."""
