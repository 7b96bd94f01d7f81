"""Model definitions in the project file's ``models:`` section."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shopfloor.model import validate_segment

__all__ = ["ModelConfig", "TrainingWindow"]


def _name(value: str) -> str:
    return validate_segment(value, what="model name")


class TrainingWindow(BaseModel):
    """The stored history a model learns from (e.g. a healthy baseline)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str = Field(description="ISO 8601 time or relative (now-7d).")
    end: str = Field(default="now")


class ModelConfig(BaseModel):
    """A model fed by a pipeline.

    ``type`` names a model class (e.g. ``isolation_forest``, ``robust_zscore``,
    ``image_classifier``); ``params`` are its keyword arguments.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    type: str
    pipeline: str = Field(description="Name of the pipeline whose features it takes.")
    params: dict[str, Any] = Field(default_factory=dict)
    training: TrainingWindow | None = None
    false_alarm_budget_per_day: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Calibrate the alarm threshold to this many false alarms a day (converted to a "
            "share of windows with the pipeline's hop; see shopfloor.ml.budget)."
        ),
    )
