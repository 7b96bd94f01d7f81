"""Settings of the store, part of the project file's ``store:`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shopfloor.model.limits import ValidationLimits

__all__ = ["StoreConfig", "ValidationLimits"]


class StoreConfig(BaseModel):
    """Which store to use and where it keeps its data.

    ``path`` is relative to the project folder unless absolute.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["duckdb"] = "duckdb"
    path: str = ".shopfloor/store.duckdb"
    dead_letter_retention_days: float = Field(default=90.0, gt=0)
    memory_limit: str | None = Field(
        default=None,
        description="DuckDB memory limit, e.g. '2GB'; larger work spills to a folder beside "
        "the store file (store.duckdb.tmp).",
    )
    threads: int | None = Field(default=None, gt=0, description="DuckDB worker threads.")
    limits: ValidationLimits = Field(default_factory=ValidationLimits)
