"""Settings of the HTTP API, the project file's ``api:`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ApiConfig"]


class ApiConfig(BaseModel):
    """Where the platform's API listens. Loopback by default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port.")
