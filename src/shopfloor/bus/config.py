"""Settings of the bus, the project file's ``bus:`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field

from shopfloor.retry import RetryPolicy

__all__ = ["BusConfig"]


class BusConfig(BaseModel):
    """Which bus to use. ``memory`` is the in-process default; MQTT comes with scale-out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["memory"] = "memory"
    queue_size: int = Field(default=1024, gt=0, description="Records a subscriber may lag behind.")
    queue_bytes: ByteSize = Field(
        default=ByteSize(64 * 2**20),
        gt=0,
        description="Bytes of records a subscriber may lag behind, e.g. '64MiB': whichever "
        "of queue_size and queue_bytes is reached first makes producers wait.",
    )
    publish_timeout_s: float = Field(
        default=1.0, gt=0, description="How long a publisher waits on a full queue."
    )
    store_batch_size: int = Field(default=512, gt=0, description="Records per store write.")
    store_batch_bytes: ByteSize = Field(
        default=ByteSize(16 * 2**20),
        gt=0,
        description="Bytes per store write, e.g. '16MiB' (at most a quarter of "
        "store.memory_limit when that is set); a larger record goes alone.",
    )
    store_batch_wait_s: float = Field(default=0.2, gt=0, description="Longest wait to fill one.")
    store_retry: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(initial_s=0.1, max_s=5.0, jitter=0.25),
        description="How the store sink retries a failed write (the connectors' policy).",
    )
