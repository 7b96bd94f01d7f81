"""The connector engine: one lifecycle, one reconnect policy, one journal for all.

For each configured connector it runs a supervisor that connects, lets the connector
read, and on any failure closes it and reconnects with capped exponential backoff and
jitter; it validates everything the connector emits (rejections become dead letters,
counting continues), keeps health per connector and per signal, and forwards records to
the bus, diverting them to the connector's on-disk journal while the bus (and the store
behind it) cannot keep up. Journaled records are replayed in order, before newer ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shopfloor.bus import Bus, BusFull
from shopfloor.connectors.base import BoundSignal, Connector, ConnectorContext, ConnectorFactory
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.journal import Journal
from shopfloor.errors import BusClosed, ConnectorAuthError, ConnectorError, ConnectorNotReady
from shopfloor.model import (
    DeadLetter,
    ImageRecord,
    Quality,
    Record,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
    now_ns,
    topic_for,
)
from shopfloor.model.codec import decode_records, encode_records
from shopfloor.store import RecordValidator, ValidationLimits
from shopfloor.store.protocol import SignalInfo
from shopfloor.store.validation import dead_letters_for_rows, describe_record

__all__ = ["ConnectorEngine", "ConnectorHealth", "ConnectorSpec", "SignalHealth"]

log = logging.getLogger(__name__)

DeadLetterSink = Callable[[Sequence[DeadLetter]], Awaitable[None]]


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector to run: its settings, its signals and how to build it."""

    config: ConnectorConfig
    signals: list[BoundSignal]
    factory: ConnectorFactory


@dataclass
class SignalHealth:
    """Counters of one signal."""

    values_in: int = 0
    rejected: int = 0
    bad_quality: int = 0
    last_source_ns: int | None = None
    last_received_ns: int | None = None

    def as_dict(self, now: int) -> dict[str, Any]:
        """JSON-able, with the age of the last value."""
        age = (
            None if self.last_received_ns is None else round((now - self.last_received_ns) / 1e9, 3)
        )
        total = self.values_in + self.rejected
        return {
            "values_in": self.values_in,
            "rejected": self.rejected,
            "bad_quality_ratio": round(self.bad_quality / total, 4) if total else 0.0,
            "last_value_age_s": age,
        }


@dataclass
class ConnectorHealth:
    """State and counters of one connector."""

    name: str
    type: str
    state: str = "starting"
    last_error: str | None = None
    reconnects: int = 0
    connected_since_ns: int | None = None
    values_in: int = 0
    rejected: int = 0
    bad_quality: int = 0
    journaled: int = 0
    replayed: int = 0
    signals: dict[SignalRef, SignalHealth] = field(default_factory=dict)

    def as_dict(self, journal: Journal | None = None) -> dict[str, Any]:
        """JSON-able summary."""
        now = now_ns()
        total = self.values_in + self.rejected
        return {
            "type": self.type,
            "state": self.state,
            "last_error": self.last_error,
            "reconnects": self.reconnects,
            "connected_for_s": None
            if self.connected_since_ns is None
            else round((now - self.connected_since_ns) / 1e9, 1),
            "values_in": self.values_in,
            "rejected": self.rejected,
            "bad_quality_ratio": round(self.bad_quality / total, 4) if total else 0.0,
            "journal": {
                "pending": journal.pending if journal else 0,
                "journaled": self.journaled,
                "replayed": self.replayed,
                "dropped": journal.dropped if journal else 0,
            },
            "signals": {
                ref.name if len({r.asset for r in self.signals}) == 1 else ref.path: h.as_dict(now)
                for ref, h in self.signals.items()
            },
        }


def _count(record: Record) -> tuple[int, int, int | None]:
    """(values, bad-quality values, last source time) of a record."""
    if isinstance(record, ScalarBatch):
        n = len(record)
        bad = int(np.count_nonzero(record.quality == Quality.BAD))
        return n, bad, int(record.ts_ns.max()) if n else None
    if isinstance(record, WaveformBlock):
        return 1, int(record.quality == Quality.BAD), record.t0_ns
    return 1, int(record.quality == Quality.BAD), record.ts_ns


class _Runner:
    """One connector: supervision, validation, forwarding and its journal."""

    def __init__(self, engine: ConnectorEngine, spec: ConnectorSpec) -> None:
        self.engine = engine
        self.spec = spec
        config = spec.config
        self.health = ConnectorHealth(config.name, config.type)
        for bound in spec.signals:
            self.health.signals[bound.ref] = SignalHealth()
        self.state_dir = engine.state_dir / config.name
        self.journal = Journal(
            self.state_dir / "journal",
            max_bytes=config.journal.max_bytes,
            segment_bytes=config.journal.segment_bytes,
            on_drop=self._on_drop,
        )
        self._lock = asyncio.Lock()
        self._replayer: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connector: Connector | None = None

    # -- records ------------------------------------------------------------------------

    async def emit(self, records: Sequence[Record]) -> None:
        good: list[Record] = []
        letters: list[DeadLetter] = []
        validator = self.engine.validator
        health = self.health
        received = now_ns()
        for record in records:
            signal = health.signals.get(record.signal)
            if signal is None:
                signal = health.signals.setdefault(record.signal, SignalHealth())
            if isinstance(record, ScalarBatch):
                _, rejections = validator.check_scalars(record)
                accepted = record
                if rejections:
                    bad = np.zeros(len(record), dtype=bool)
                    for rejection in rejections:
                        bad[rejection.rows] = True
                        letters.extend(dead_letters_for_rows(record, rejection))
                    accepted = record.take(~bad)
                    signal.rejected += int(bad.sum())
                    health.rejected += int(bad.sum())
                if len(accepted):
                    good.append(accepted)
                    n, n_bad, last = _count(accepted)
                else:
                    continue
            else:
                if isinstance(record, WaveformBlock):
                    _, category, reason = validator.check_waveform(record)
                elif isinstance(record, ImageRecord):
                    _, category, reason = validator.check_image(record)
                else:
                    _, category, reason = validator.check_event(record)
                if category is not None:
                    letters.append(
                        DeadLetter(
                            source=self.spec.config.name,
                            location=record.provenance.address or record.signal.path,
                            reason=reason,
                            payload=describe_record(record),
                            detail={"category": category, "signal": record.signal.path},
                        )
                    )
                    signal.rejected += 1
                    health.rejected += 1
                    continue
                good.append(record)
                n, n_bad, last = _count(record)
            signal.values_in += n
            signal.bad_quality += n_bad
            health.values_in += n
            health.bad_quality += n_bad
            if last is not None:
                signal.last_source_ns = last
            signal.last_received_ns = received
        if letters:
            await self.reject(letters)
        if good:
            await self.forward(good)

    async def reject(self, letters: Sequence[DeadLetter]) -> None:
        await self.engine.dead_letter(letters)

    async def forward(self, records: Sequence[Record]) -> None:
        """To the bus; to the journal while the journal has a backlog or the bus is full."""
        async with self._lock:
            if not self.journal.empty:
                await self._journal(records)
                return
            for i, record in enumerate(records):
                try:
                    await self.engine.bus.publish(
                        topic_for(record.signal), record, timeout_s=self.engine.publish_timeout_s
                    )
                except BusFull:
                    await self._journal(records[i:])
                    return

    async def _journal(self, records: Sequence[Record]) -> None:
        payloads = [encode_records([r])[0] for r in records]
        await asyncio.to_thread(self.journal.append, payloads)
        self.health.journaled += len(records)
        if self._replayer is None or self._replayer.done():
            log.warning(
                "connector.journaling connector=%s pending=%d",
                self.spec.config.name,
                self.journal.pending,
            )
            self._replayer = asyncio.create_task(
                self._replay(), name=f"replay:{self.spec.config.name}"
            )

    async def _replay(self) -> None:
        bus = self.engine.bus
        while True:
            async with self._lock:
                if self.journal.empty:
                    log.info(
                        "connector.journal_drained connector=%s replayed=%d",
                        self.spec.config.name,
                        self.health.replayed,
                    )
                    return
            frames = await asyncio.to_thread(self.journal.read, 256)
            done = 0
            for payload, _ in frames:
                try:
                    records = decode_records(payload)
                except ValueError as err:  # a frame we wrote ourselves: should not happen
                    await self.reject(
                        [
                            DeadLetter(
                                self.spec.config.name,
                                "journal",
                                f"unreadable journal frame: {err}",
                                payload,
                            )
                        ]
                    )
                    records = []
                try:
                    for record in records:
                        await bus.publish(
                            topic_for(record.signal),
                            record,
                            timeout_s=self.engine.publish_timeout_s,
                        )
                except BusFull:
                    break
                done += 1
            if done:
                await asyncio.to_thread(self.journal.commit, frames[done - 1][1], done)
                self.health.replayed += done
            if done < len(frames):
                await asyncio.sleep(self.engine.publish_timeout_s)

    def _on_drop(self, frames: int, size: int) -> None:
        self.engine.queue_dead_letter(
            DeadLetter(
                source=self.spec.config.name,
                location=str(self.journal.directory),
                reason=(
                    f"journal full ({self.spec.config.journal.max_bytes} bytes): {frames} "
                    f"waiting records ({size} bytes) dropped, oldest first"
                ),
                detail={"category": "journal_full", "records": frames},
            )
        )

    # -- lifecycle ------------------------------------------------------------------------

    def _set_state(self, state: str, error: str | None = None) -> None:
        if state != self.health.state:
            level = logging.WARNING if state in ("reconnecting", "auth_failed") else logging.INFO
            log.log(
                level,
                "connector.%s connector=%s%s",
                state,
                self.spec.config.name,
                f" error={error}" if error else "",
            )
        self.health.state = state
        if error is not None:
            self.health.last_error = error

    async def supervise(self) -> None:
        config = self.spec.config
        policy = config.reconnect
        resume = {
            b.ref: self.engine.resume[b.ref]
            for b in self.spec.signals
            if b.ref in self.engine.resume
        }
        context = ConnectorContext(
            self.state_dir, self.emit, self.reject, self.engine.env, self.engine.root, resume
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        connector = self.spec.factory(config, self.spec.signals, context)
        self.connector = connector
        delay = policy.initial_s
        if not self.journal.empty and (self._replayer is None or self._replayer.done()):
            self._replayer = asyncio.create_task(self._replay(), name=f"replay:{config.name}")
        while not self._stopping:
            self._set_state("connecting")
            wait = delay
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the connect attempt fails, and the engine would never stop
                async with asyncio.timeout(self.engine.connect_timeout_s):
                    await connector.connect()
                self.health.connected_since_ns = now_ns()
                self._set_state("connected")
                delay = policy.initial_s
                await connector.run()
                self._set_state("finished")
                return
            except asyncio.CancelledError:
                raise
            except ConnectorAuthError as err:
                self._set_state("auth_failed", str(err))
                wait = policy.max_s
            except (ConnectorNotReady, ConnectorError, OSError, TimeoutError) as err:
                self._set_state("reconnecting", str(err) or type(err).__name__)
            except BusClosed:
                return
            except Exception as err:  # a connector bug must not stop production
                log.exception("connector.crashed connector=%s", config.name)
                self._set_state("reconnecting", f"{type(err).__name__}: {err}")
            finally:
                self.health.connected_since_ns = None
                with contextlib.suppress(Exception):
                    await asyncio.shield(connector.close())
            self.health.reconnects += 1
            jitter = 1 + policy.jitter * (2 * random.random() - 1)
            await asyncio.sleep(wait * jitter)
            delay = min(delay * policy.multiplier, policy.max_s)

    def start(self) -> None:
        self._task = asyncio.create_task(
            self.supervise(), name=f"connector:{self.spec.config.name}"
        )

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._replayer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.connector is not None:
            with contextlib.suppress(Exception):
                await self.connector.close()
        self._set_state("stopped")


class ConnectorEngine:
    """Runs every connector of a project (a platform service).

    Parameters
    ----------
    specs
        The connectors.
    bus
        Where records go.
    dead_letters
        Where rejected input goes (the store's dead-letter table).
    state_dir
        Parent folder of each connector's own folder (journal, certificates).
    signals
        Definitions of every signal of the project, for validation.
    publish_timeout_s
        How long a publish may wait on a full bus before records go to the journal.
    root
        The project folder, against which connectors resolve relative paths.
    resume
        The last stored timestamp (UTC ns) per signal; each connector gets those of its
        signals in its context, to backfill from there after a platform start.
    """

    name = "connectors"

    def __init__(
        self,
        specs: Sequence[ConnectorSpec],
        bus: Bus,
        dead_letters: DeadLetterSink,
        state_dir: Path,
        *,
        signals: dict[SignalRef, SignalInfo],
        limits: ValidationLimits | None = None,
        publish_timeout_s: float = 1.0,
        connect_timeout_s: float = 30.0,
        env: dict[str, str] | None = None,
        root: Path | None = None,
        resume: Mapping[SignalRef, int] | None = None,
    ) -> None:
        self.bus = bus
        self.resume = dict(resume or {})
        self.root = root if root is not None else Path.cwd()
        self.state_dir = state_dir
        self.publish_timeout_s = publish_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.env = dict(env or {})
        self.validator = RecordValidator(signals.get, limits or ValidationLimits())
        self._sink = dead_letters
        self._letters: list[DeadLetter] = []
        self._letters_lost = 0
        self._flusher: asyncio.Task[None] | None = None
        self.runners = [_Runner(self, spec) for spec in specs]

    def runner(self, name: str) -> _Runner:
        """The runner of connector ``name``."""
        return next(r for r in self.runners if r.spec.config.name == name)

    def queue_dead_letter(self, letter: DeadLetter) -> None:
        """Keep a dead letter until the next flush (bounded; overflow is counted and logged)."""
        if len(self._letters) >= 100_000:
            self._letters_lost += 1
            if self._letters_lost in (1, 1000, 100_000):
                log.error("connectors.dead_letters_overflow lost=%d", self._letters_lost)
            return
        self._letters.append(letter)

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        """Queue dead letters for the store."""
        for letter in letters:
            self.queue_dead_letter(letter)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            await self.flush()

    async def flush(self) -> None:
        """Write queued dead letters to the store (kept for the next try on failure)."""
        if not self._letters:
            return
        batch, self._letters = self._letters, []
        try:
            await self._sink(batch)
        except Exception as err:  # store down: keep them, try again later
            log.warning("connectors.dead_letter_flush_failed error=%s", err)
            self._letters = batch + self._letters

    async def start(self) -> None:
        """Start every connector's supervisor."""
        self._flusher = asyncio.create_task(self._flush_loop(), name="dead-letter-flush")
        for runner in self.runners:
            runner.start()

    async def stop(self) -> None:
        """Stop every connector; journals keep what was not yet replayed."""
        await asyncio.gather(*(runner.stop() for runner in self.runners))
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    def health(self) -> dict[str, Any]:
        """Health of every connector."""
        out = {r.spec.config.name: r.health.as_dict(r.journal) for r in self.runners}
        if self._letters_lost:
            out["_dead_letters_lost"] = {"count": self._letters_lost}
        return out
