"""Connectors for engine tests: they produce numbered values, or fail on purpose."""

from __future__ import annotations

import asyncio

import numpy as np

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.errors import ConnectorAuthError, ConnectorNotReady
from shopfloor.model import Provenance, ScalarBatch

T0 = 1_714_521_600 * 10**9  # 2024-05-01


class CounterConnector:
    """Emits the numbers 0..total-1 as one scalar signal, ``batch`` at a time, 1 ms apart."""

    total = 20_000
    batch = 50
    interval_s = 0.0
    pause_at: int | None = None  # stop after this many values until `resume` is set
    resume: asyncio.Event | None = None

    def __init__(
        self, config: ConnectorConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.signal = signals[0].ref
        self.context = context
        self.next = 0

    async def connect(self) -> None:
        pass

    async def run(self) -> None:
        while self.next < self.total:
            if self.pause_at is not None and self.next == self.pause_at and self.resume:
                await self.resume.wait()
            n = min(self.batch, self.total - self.next)
            seq = np.arange(self.next, self.next + n)
            await self.context.emit(
                [
                    ScalarBatch.of(
                        self.signal, T0 + seq * 1_000_000, seq.astype(float), Provenance(self.name)
                    )
                ]
            )
            self.next += n
            await asyncio.sleep(self.interval_s)
        await asyncio.Event().wait()  # stay connected

    async def close(self) -> None:
        pass


class FlakyConnector:
    """Refuses to connect ``failures`` times (or with an auth error), then idles."""

    failures = 2
    auth = False

    def __init__(
        self, config: ConnectorConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.attempts = 0
        self.closed = 0

    async def connect(self) -> None:
        self.attempts += 1
        if self.auth:
            raise ConnectorAuthError("certificate rejected by the server")
        if self.attempts <= self.failures:
            raise ConnectorNotReady(f"connection refused (attempt {self.attempts})")

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closed += 1
