"""The connector engine: one lifecycle, one reconnect policy, one journal for all.

For each configured connector it runs a supervisor that connects, lets the connector
read, and on any failure closes it and reconnects as its
:class:`~shopfloor.retry.RetryPolicy` says (tenacity runs the loop; a connection that came
up restarts the backoff). It logs one line per state change (tracebacks only at debug
level), validates everything the connector emits (rejections become dead letters,
counting continues), keeps health per connector and per signal (``ok``, ``degraded`` or
``failed`` with a reason), and forwards records to the bus, diverting them to the
connector's on-disk journal while the bus (and the store behind it) cannot keep up.
Journaled records are replayed in order, before newer ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tenacity import RetryCallState, retry_if_exception

from shopfloor.bus import Bus, BusFull
from shopfloor.connectors.base import (
    BoundSignal,
    Connector,
    ConnectorContext,
    ConnectorFactory,
    Describes,
)
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.journal import Journal
from shopfloor.errors import BusClosed, ConnectorAuthError, ConnectorError, ConnectorNotReady
from shopfloor.model import (
    DeadLetter,
    Quality,
    Record,
    ScalarBatch,
    Signal,
    SignalRef,
    WaveformBlock,
    now_ns,
    topic_for,
)
from shopfloor.model.codec import decode_records, encode_records
from shopfloor.model.validation import RecordValidator, ValidationLimits, validate_records

__all__ = ["ConnectorEngine", "ConnectorHealth", "ConnectorSpec", "SignalHealth"]

log = logging.getLogger(__name__)

DeadLetterSink = Callable[[Sequence[DeadLetter]], Awaitable[None]]
SignalSink = Callable[[str, Sequence[Signal]], Awaitable[object]]


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector to run: its settings, its signals and how to build it."""

    config: ConnectorConfig
    signals: list[BoundSignal]
    factory: ConnectorFactory


def _iso(ns: int | None) -> str | None:
    """UTC ISO-8601 time of ``ns`` nanoseconds since 1970, to the millisecond."""
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


@dataclass
class SignalHealth:
    """Counters, last value and last error of one signal.

    Its state follows from the times: ``waiting`` before the first value, ``error`` while
    the last thing that happened to it was an error (a node id the source does not know,
    a value the validation refused), ``ok`` once values arrive after it.
    """

    values_in: int = 0
    rejected: int = 0
    bad_quality: int = 0
    last_source_ns: int | None = None
    last_received_ns: int | None = None
    last_error: str | None = None
    last_error_ns: int | None = None

    @property
    def state(self) -> str:
        """``waiting``, ``ok`` or ``error``."""
        if self.last_error_ns is not None and (
            self.last_received_ns is None or self.last_error_ns > self.last_received_ns
        ):
            return "error"
        return "waiting" if self.last_received_ns is None else "ok"

    def fail(self, reason: str, at_ns: int) -> None:
        """Record an error of this signal."""
        self.last_error = reason
        self.last_error_ns = at_ns

    def as_dict(self, now: int) -> dict[str, Any]:
        """JSON-able, with the age of the last value."""
        age = (
            None if self.last_received_ns is None else round((now - self.last_received_ns) / 1e9, 3)
        )
        total = self.values_in + self.rejected
        state = self.state
        return {
            "state": state,
            "values_in": self.values_in,
            "rejected": self.rejected,
            "bad_quality_ratio": round(self.bad_quality / total, 4) if total else 0.0,
            "last_value_at": _iso(self.last_received_ns),
            "last_value_age_s": age,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_ns),
            "last_error_resolved": self.last_error is not None and state != "error",
        }


_FAILED = ("failed", "auth_failed")
_NOT_CONNECTED = ("starting", "connecting", "reconnecting")


@dataclass
class ConnectorHealth:
    """State and counters of one connector.

    ``reconnect_attempts`` counts connection attempts after a failure; ``reconnects``
    counts connections established again after one was up or attempts had failed.
    ``last_error`` is kept with its time; once the connector is connected again it is
    marked resolved, not forgotten.
    """

    name: str
    type: str
    state: str = "starting"
    last_error: str | None = None
    last_error_ns: int | None = None
    last_error_resolved: bool = False
    reconnect_attempts: int = 0
    reconnects: int = 0
    connected_since_ns: int | None = None
    values_in: int = 0
    rejected: int = 0
    bad_quality: int = 0
    journaled: int = 0
    replayed: int = 0
    signals: dict[SignalRef, SignalHealth] = field(default_factory=dict)

    def fail(self, reason: str, at_ns: int | None = None) -> None:
        """Record an error of the connection."""
        self.last_error = reason
        self.last_error_ns = now_ns() if at_ns is None else at_ns
        self.last_error_resolved = False

    def _signal_key(self, ref: SignalRef) -> str:
        return ref.name if len({r.asset for r in self.signals}) == 1 else ref.path

    def verdict(self, journal: Journal | None = None) -> tuple[str, str | None]:
        """``(health, reason)``: ``ok``, ``degraded`` or ``failed``, and why not ``ok``.

        ``failed``: the connector cannot work without a change (it could not be created,
        or the source refuses its credentials). ``degraded``: it is not connected now, a
        signal is in error, or records wait in the journal.
        """
        if self.state in _FAILED:
            return "failed", f"{self.state}: {self.last_error}"
        reasons: list[str] = []
        if self.state in _NOT_CONNECTED:
            reasons.append(
                self.state if self.last_error is None else f"{self.state}: {self.last_error}"
            )
        bad = [(ref, h) for ref, h in self.signals.items() if h.state == "error"]
        if bad:
            ref, first = bad[0]
            names = ", ".join(self._signal_key(r) for r, _ in bad)
            reasons.append(
                f"signals in error: {names} ({self._signal_key(ref)}: {first.last_error})"
            )
        if journal is not None and journal.pending:
            reasons.append(f"{journal.pending} records wait in the journal")
        return ("degraded", "; ".join(reasons)) if reasons else ("ok", None)

    def as_dict(self, journal: Journal | None = None) -> dict[str, Any]:
        """JSON-able summary."""
        now = now_ns()
        total = self.values_in + self.rejected
        health, reason = self.verdict(journal)
        return {
            "type": self.type,
            "state": self.state,
            "health": health,
            "reason": reason,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_ns),
            "last_error_resolved": self.last_error_resolved,
            "reconnect_attempts": self.reconnect_attempts,
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
            "signals": {self._signal_key(ref): h.as_dict(now) for ref, h in self.signals.items()},
        }


_RETRYABLE = (ConnectorNotReady, ConnectorError, OSError, TimeoutError)


def _retry_on(err: BaseException) -> bool:
    """Every failure is retried except cancellation and a closed bus (shutdown)."""
    return isinstance(err, Exception) and not isinstance(err, BusClosed)


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
        self._was_connected = False
        self._backoff = spec.config.reconnect.wait()
        self.connector: Connector | None = None
        self._by_path = {bound.ref.path: bound.ref for bound in spec.signals}
        self._by_address = {bound.address: bound.ref for bound in spec.signals}

    # -- records ------------------------------------------------------------------------

    async def emit(self, records: Sequence[Record]) -> None:
        health = self.health
        received = now_ns()
        checked = validate_records(
            records, self.engine.validator, source=self.spec.config.name, keep_repeats=True
        )
        for ref, count in checked.rejected_by_signal.items():
            health.signals.setdefault(ref, SignalHealth()).rejected += count
            health.rejected += count
        for record in checked.accepted:
            signal = health.signals.setdefault(record.signal, SignalHealth())
            n, n_bad, last = _count(record)
            signal.values_in += n
            signal.bad_quality += n_bad
            health.values_in += n
            health.bad_quality += n_bad
            if last is not None:
                signal.last_source_ns = last
            signal.last_received_ns = received
        if checked.letters:
            await self.reject(checked.letters)
        if checked.accepted:
            await self.forward(checked.accepted)

    async def reject(self, letters: Sequence[DeadLetter]) -> None:
        """To the dead letters; the signal each names records the reason as its error."""
        for letter in letters:
            ref = self._signal_of(letter)
            if ref is not None:
                self.health.signals.setdefault(ref, SignalHealth()).fail(
                    letter.reason, letter.received_ns
                )
        await self.engine.dead_letter(letters)

    async def declare(self, asset: str, signals: Sequence[Signal]) -> None:
        """Signals the source describes: registered (store first), then validated and tracked."""
        fresh = [s for s in signals if self.engine.signals.get(SignalRef(asset, s.name)) != s]
        if not fresh:
            return
        if self.engine.register is not None:
            await self.engine.register(asset, fresh)
        for signal in fresh:
            ref = SignalRef(asset, signal.name)
            self.engine.signals[ref] = signal
            self.health.signals.setdefault(ref, SignalHealth())
            self._by_path[ref.path] = ref
        log.info(
            "connector.signals_declared connector=%s asset=%s count=%d",
            self.spec.config.name,
            asset,
            len(fresh),
        )

    def _signal_of(self, letter: DeadLetter) -> SignalRef | None:
        """The signal a dead letter is about: named in its detail, or by its address."""
        path = letter.detail.get("signal") if letter.detail else None
        if isinstance(path, str) and path in self._by_path:
            return self._by_path[path]
        return self._by_address.get(letter.location)

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
        """Change state; one log line per change, naming the error that caused it."""
        health = self.health
        if error is not None:
            health.fail(error)
        if state == health.state:
            if error is not None:
                log.debug("connector.%s connector=%s error=%s", state, self.spec.config.name, error)
            return
        if state in _FAILED:
            level = logging.ERROR
        elif state == "reconnecting":
            level = logging.WARNING
        else:
            level = logging.INFO
        fields = f" error={error!r}" if error else ""
        if state == "connected" and health.last_error is not None:
            health.last_error_resolved = True
            fields = f" resolved_error={health.last_error!r}"
        log.log(level, "connector.%s connector=%s%s", state, self.spec.config.name, fields)
        health.state = state

    def _wait_s(self, retry_state: RetryCallState) -> float:
        """The reconnect policy's delay; its longest after refused credentials."""
        policy = self.spec.config.reconnect
        outcome = retry_state.outcome
        if outcome is not None and isinstance(outcome.exception(), ConnectorAuthError):
            return policy.max_s
        return float(self._backoff(retry_state))

    def _before_retry(self, retry_state: RetryCallState) -> None:
        """After a failed attempt: state, error and count (the traceback only at debug)."""
        outcome = retry_state.outcome
        err = outcome.exception() if outcome is not None else None
        self.health.reconnect_attempts += 1
        name = self.spec.config.name
        if err is None:
            return
        log.debug("connector.attempt_failed connector=%s", name, exc_info=err)
        if isinstance(err, ConnectorAuthError):
            self._set_state("auth_failed", str(err))
        elif isinstance(err, _RETRYABLE):
            self._set_state("reconnecting", str(err) or type(err).__name__)
        else:  # a connector bug must not stop production; the traceback is at debug level
            self._set_state("reconnecting", f"{type(err).__name__}: {err} (a connector bug)")

    async def _session(self, connector: Connector, retry_state: RetryCallState) -> None:
        """Connect and read until the connection is lost (raise) or the source ends."""
        try:
            if self.health.state in ("starting", "stopped"):
                self._set_state("connecting")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the connect attempt fails, and the engine would never stop
            async with asyncio.timeout(self.engine.connect_timeout_s):
                await connector.connect()
            self.health.connected_since_ns = now_ns()
            if self._was_connected:
                self.health.reconnects += 1
            self._was_connected = True
            retry_state.attempt_number = 1  # a connection that came up restarts the backoff
            self._set_state("connected")
            await connector.run()
        finally:
            self.health.connected_since_ns = None
            with contextlib.suppress(Exception):
                await asyncio.shield(connector.close())

    async def supervise(self) -> None:
        config = self.spec.config
        resume = {
            b.ref: self.engine.resume[b.ref]
            for b in self.spec.signals
            if b.ref in self.engine.resume
        }
        context = ConnectorContext(
            self.state_dir,
            self.emit,
            self.reject,
            self.engine.env,
            self.engine.root,
            resume,
            declare=self.declare,
        )
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            connector = self.spec.factory(config, self.spec.signals, context)
        except Exception as err:  # a bad setting or a connector bug: nothing to retry
            log.debug("connector.create_failed connector=%s", config.name, exc_info=err)
            self._set_state("failed", f"could not be created: {type(err).__name__}: {err}")
            return
        self.connector = connector
        if not self.journal.empty and (self._replayer is None or self._replayer.done()):
            self._replayer = asyncio.create_task(self._replay(), name=f"replay:{config.name}")
        retrying = config.reconnect.retrying(
            retry_if_exception(_retry_on),
            before_sleep=self._before_retry,
            wait=self._wait_s,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._session(connector, attempt.retry_state)
        except BusClosed:
            return
        if not self._stopping:
            self._set_state("finished")

    def start(self) -> None:
        self._stopping = False
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
    register
        Registers signals a connector declares (a Sparkplug B birth) where the records go
        (the store's ``register_signals``); ``None``: only the engine's validation knows
        them.
    """

    name = "connectors"

    def __init__(
        self,
        specs: Sequence[ConnectorSpec],
        bus: Bus,
        dead_letters: DeadLetterSink,
        state_dir: Path,
        *,
        signals: Mapping[SignalRef, Signal],
        limits: ValidationLimits | None = None,
        publish_timeout_s: float = 1.0,
        connect_timeout_s: float = 30.0,
        env: dict[str, str] | None = None,
        root: Path | None = None,
        resume: Mapping[SignalRef, int] | None = None,
        register: SignalSink | None = None,
    ) -> None:
        self.bus = bus
        self.register = register
        self.resume = dict(resume or {})
        self.root = root if root is not None else Path.cwd()
        self.state_dir = state_dir
        self.publish_timeout_s = publish_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.env = dict(env or {})
        self.signals = dict(signals)
        """Every signal's definition: the project's, and those connectors declared since."""
        self.validator = RecordValidator(self.signals.get, limits or ValidationLimits())
        self._sink = dead_letters
        self._letters: list[DeadLetter] = []
        self._letters_lost = 0
        self._flusher: asyncio.Task[None] | None = None
        self.runners = [_Runner(self, spec) for spec in specs]

    def runner(self, name: str) -> _Runner:
        """The runner of connector ``name``."""
        return next(r for r in self.runners if r.spec.config.name == name)

    def connected(self, name: str) -> Connector | None:
        """The connector ``name`` while its session is up (``None``: not running or down).

        Write-back uses the connector's own session, so a write follows the engine's
        reconnects and never opens a second session to a machine.
        """
        runner = next((r for r in self.runners if r.spec.config.name == name), None)
        if runner is None or runner.health.state != "connected":
            return None
        return runner.connector

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
        """Health of every connector, and of all of them under ``_health``.

        Each connector has ``health`` (``ok``, ``degraded`` or ``failed``) with a
        ``reason``; ``_health`` is the worst of them, with the reasons by connector.
        """
        out: dict[str, Any] = {}
        for r in self.runners:
            out[r.spec.config.name] = r.health.as_dict(r.journal)
            connector: object = r.connector
            if isinstance(connector, Describes):
                out[r.spec.config.name]["details"] = connector.details()
        out["_health"] = self.overall_health()
        if self._letters_lost:
            out["_dead_letters_lost"] = {"count": self._letters_lost}
        return out

    def overall_health(self) -> dict[str, Any]:
        """``{"health": ok|degraded|failed, "reason": ...}`` over every connector."""
        rank = {"ok": 0, "degraded": 1, "failed": 2}
        worst = "ok"
        reasons: list[str] = []
        for runner in self.runners:
            health, reason = runner.health.verdict(runner.journal)
            if reason is not None:
                reasons.append(f"{runner.spec.config.name}: {reason}")
            if rank[health] > rank[worst]:
                worst = health
        if self._letters_lost:
            worst = "failed" if worst == "failed" else "degraded"
            reasons.append(f"{self._letters_lost} dead letters lost (queue full)")
        return {"health": worst, "reason": "; ".join(reasons) or None}
