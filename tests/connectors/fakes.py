"""Connectors for engine tests: they produce numbered values, or fail on purpose."""

from __future__ import annotations

import asyncio

import numpy as np

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.errors import ConnectorAuthError, ConnectorNotReady
from shopfloor.model import DeadLetter, Provenance, ScalarBatch

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


class BrokenConnector:
    """Its constructor raises, as a connector with a setting it cannot use would."""

    def __init__(
        self, config: ConnectorConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        raise ValueError(f"endpoint 'opc.tcp://nowhere' of {config.name!r} is not a valid URL")

    async def connect(self) -> None:  # pragma: no cover - never constructed
        pass

    async def run(self) -> None:  # pragma: no cover
        pass

    async def close(self) -> None:  # pragma: no cover
        pass


class MistypedNodeConnector:
    """Connects, then reports that the node of its signal does not exist (as OPC UA does)."""

    def __init__(
        self, config: ConnectorConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.bound = signals[0]
        self.context = context

    async def connect(self) -> None:
        pass

    async def run(self) -> None:
        await self.context.reject(
            [
                DeadLetter(
                    source=self.name,
                    location=self.bound.address,
                    reason=f"node {self.bound.address} for signal {self.bound.ref.path!r} is "
                    "not readable: BadNodeIdUnknown",
                    detail={"category": "unknown_node", "signal": self.bound.ref.path},
                )
            ]
        )
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass


class DroppingConnector:
    """Connects and emits a value; loses the connection ``drops`` times, refusing
    ``refusals`` attempts after each loss, then stays connected."""

    drops = 1
    refusals = 2
    crash = False  # fail with a bug (RuntimeError) instead of ConnectorNotReady

    def __init__(
        self, config: ConnectorConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.signal = signals[0].ref
        self.context = context
        self.sessions = 0
        self.refused = 0

    async def connect(self) -> None:
        if self.sessions and self.refused < self.refusals * min(self.sessions, self.drops):
            self.refused += 1
            if self.crash:
                raise RuntimeError(f"bug in decoder (refusal {self.refused})")
            raise ConnectorNotReady(f"connection refused (refusal {self.refused})")
        self.sessions += 1

    async def run(self) -> None:
        seq = np.array([self.sessions])
        await self.context.emit(
            [ScalarBatch.of(self.signal, T0 + seq, seq.astype(float), Provenance(self.name))]
        )
        if self.sessions <= self.drops:
            raise ConnectorNotReady(f"connection lost (session {self.sessions})")
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass
