"""Settings of the store, part of the project file's ``store:`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, TypeAdapter, ValidationError

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

    def write_bytes(self, wanted: int) -> int:
        """Bytes per write: ``wanted``, or a quarter of ``memory_limit`` when that is less.

        A write is one transaction that DuckDB holds in memory until it commits: under a
        small ``memory_limit`` a large one fails ("failed to pin block") where several
        smaller ones succeed.

        Examples
        --------
        >>> StoreConfig(memory_limit="16MB").write_bytes(16 * 2**20)
        4000000
        >>> StoreConfig().write_bytes(16 * 2**20)
        16777216
        """
        if not self.memory_limit:
            return wanted
        try:
            limit = int(TypeAdapter(ByteSize).validate_python(self.memory_limit))
        except ValidationError:  # a form DuckDB reads and pydantic does not: DuckDB decides
            return wanted
        return max(1, min(wanted, limit // 4))
