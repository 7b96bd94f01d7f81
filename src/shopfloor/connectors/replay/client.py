"""The replay connector: a recording, paced by its own timestamps."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.recordings import Chunk, open_recording
from shopfloor.connectors.replay.config import ReplayConfig
from shopfloor.errors import ConfigError, ConnectorNotReady
from shopfloor.model import (
    Record,
    ScalarBatch,
    WaveformBlock,
    now_ns,
)

__all__ = ["ReplayConnector"]

log = logging.getLogger(__name__)


def _first_ts(record: Record) -> int:
    if isinstance(record, ScalarBatch):
        return int(record.ts_ns[0])
    if isinstance(record, WaveformBlock):
        return record.t0_ns
    return record.ts_ns


def _shift(record: Record, offset: int) -> Record:
    if offset == 0:
        return record
    if isinstance(record, ScalarBatch):
        return ScalarBatch(
            record.signal,
            record.ts_ns + offset,
            record.values,
            record.quality,
            record.status_code,
            record.ingest_ns,
            record.provenance,
        )
    if isinstance(record, WaveformBlock):
        return replace(record, t0_ns=record.t0_ns + offset)
    return replace(record, ts_ns=record.ts_ns + offset)


class ReplayConnector:
    """Replays a recording through the engine (validation, journal, bus, store)."""

    def __init__(
        self, config: ReplayConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.config = config
        self.signals = signals
        self.context = context
        self.emitted = 0
        self._position = 0  # parts of the recording already emitted (resume after a failure)
        self._offset: int | None = None

    async def connect(self) -> None:
        """Check the recording can be opened."""
        path = self.context.resolve(self.config.path)
        if not await asyncio.to_thread(path.exists):
            raise ConnectorNotReady(f"replay {self.name!r}: {path} does not exist")

    def _open(self) -> Iterator[Chunk]:
        columns = {s.address: s.ref for s in self.signals}
        try:
            reader = open_recording(
                self.context.resolve(self.config.path),
                fmt=self.config.format,
                columns=columns,
                options=self.config.options,
                connector=self.name,
            )
        except ConfigError as err:
            raise ConnectorNotReady(f"replay {self.name!r}: {err}") from err
        return reader.chunks()

    async def run(self) -> None:
        """Emit the recording paced by its timestamps; return at its end (unless looping)."""
        while True:
            await self._replay_once()
            if not self.config.loop:
                return
            self._position = 0
            self._offset = None

    async def _replay_once(self) -> None:
        chunks = self._open()
        path = self.context.resolve(self.config.path)
        speed = self.config.speed
        wall0 = time.monotonic()
        t_first: int | None = None
        part_index = 0
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                return
            if chunk.rejected and part_index >= self._position:
                await self.context.reject(chunk.rejected)
            records: list[Record] = [b for b, _ in chunk.scalars] + list(chunk.records)
            # signals interleaved by time: each column's slices, not one column after another
            parts = [part for record in records for part in self._slices(record)]
            parts.sort(key=_first_ts)
            for part in parts:
                part_index += 1
                if part_index <= self._position:
                    continue  # emitted before a reconnect
                ts = _first_ts(part)
                if t_first is None:
                    t_first = ts
                    if self._offset is None:
                        self._offset = (now_ns() - ts) if self.config.retime else 0
                if speed != "max":
                    due = wall0 + (ts - t_first) / 1e9 / float(speed)
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                        if not await asyncio.to_thread(path.exists):
                            raise ConnectorNotReady(
                                f"replay {self.name!r}: {path} disappeared while replaying"
                            )
                await self.context.emit([_shift(part, self._offset or 0)])
                self.emitted += 1
                self._position = part_index

    def _slices(self, record: Record) -> list[Record]:
        """Cut long scalar batches into pieces of ``step_s`` so pacing stays smooth."""
        if not isinstance(record, ScalarBatch) or self.config.speed == "max" or len(record) < 2:
            return [record]
        step = int(self.config.step_s * 1e9 * float(self.config.speed))
        bucket = (record.ts_ns - record.ts_ns[0]) // max(step, 1)
        edges = np.flatnonzero(np.diff(bucket)) + 1
        if edges.size == 0:
            return [record]
        bounds = [0, *edges.tolist(), len(record)]
        return [record.take(slice(a, b)) for a, b in itertools.pairwise(bounds)]

    async def close(self) -> None:
        """Nothing to release."""
