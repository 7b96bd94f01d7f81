"""What the store refuses, whatever the input path: :class:`ValidationLimits`.

Apart from :mod:`shopfloor.model.validation` (which needs numpy), so that settings that
hold limits (``store:`` in the project file) load without numpy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ValidationLimits"]

_1980_NS = 315_532_800 * 1_000_000_000


class ValidationLimits(BaseModel):
    """What is refused, whatever the input path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_timestamp_ns: int = Field(
        default=_1980_NS,
        description="Older timestamps are refused (a PLC with a lost clock sends 1970).",
    )
    max_future_ns: int = Field(
        default=86_400 * 1_000_000_000,
        ge=0,
        description="Timestamps later than now plus this are refused.",
    )
    max_waveform_samples: int = Field(default=16 * 1024 * 1024, gt=0)
    max_image_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
