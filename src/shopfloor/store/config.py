"""Settings of the store, part of the project file's ``store:`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StoreConfig", "ValidationLimits"]

_1980_NS = 315_532_800 * 1_000_000_000


class ValidationLimits(BaseModel):
    """What the store refuses, whatever the input path."""

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


class StoreConfig(BaseModel):
    """Which store to use and where it keeps its data.

    ``path`` is relative to the project folder unless absolute.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["duckdb"] = "duckdb"
    path: str = ".shopfloor/store.duckdb"
    dead_letter_retention_days: float = Field(default=90.0, gt=0)
    memory_limit: str | None = Field(default=None, description="DuckDB memory limit, e.g. '2GB'.")
    threads: int | None = Field(default=None, gt=0, description="DuckDB worker threads.")
    limits: ValidationLimits = Field(default_factory=ValidationLimits)
