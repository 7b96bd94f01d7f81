"""Writing alerts back to machines, paced, retried and recorded, never in the way.

:meth:`WritebackService.request` only hands a value to its target's slot and returns:
alert evaluation never waits for a machine. Each allow-listed target has one task that
writes its latest requested value:

- **allow-list**: a request for a target the project's ``writeback`` section does not
  list is refused (logged, counted in health) and never reaches a writer;
- **rate limit**: two writes of one target are at least its ``min_interval_s`` apart;
  requests made in between replace each other (coalesced to the latest value, logged
  and counted), so at most one value waits per target, never a growing queue; a target
  with ``queue: true`` (a request register, such as a reject gate's part id) writes
  every value in order instead, with at most ``max_queued`` waiting (beyond, the oldest
  is given up as a failed write: logged, counted and recorded);
- **verification**: the writer reads each value back; a target with a ``rest`` value
  (the device resets a request register once it took it) also accepts that value;
- **retries**: a failed write is tried again with the project's
  :class:`~shopfloor.retry.RetryPolicy` up to ``attempts`` times; a refusal
  (:class:`~shopfloor.errors.WriteRefused`: the value does not fit, the node is not
  writable) and a failed verification are not retried;
- **record**: every write, verified or failed, becomes a :class:`WriteResult` handed to
  ``on_result`` (the alert engine adds it to the alert's history) and is kept in
  :meth:`~WritebackService.health` per target, with the last error and its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shopfloor.connectors.writes import WriteValue
from shopfloor.errors import ConnectorError, WriteNotVerified, WriteRefused
from shopfloor.model import format_ns, now_ns
from shopfloor.runtime.writeback.config import WritebackConnectorConfig, WritebackTargetConfig
from shopfloor.runtime.writeback.writer import Writer

# tenacity is imported where writes are retried: loading a project needs none of it
if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["WriteRequest", "WriteResult", "WritebackService"]

log = logging.getLogger(__name__)

Phase = Literal["raised", "resolved"]


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """A value an alert asks to write to a target."""

    rule: str
    alert_id: int | None
    asset: str
    phase: Phase
    connector: str
    address: str
    value: WriteValue
    at_ns: int


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What became of a write: verified (``read_back`` set) or failed (``error`` set)."""

    request: WriteRequest
    at_ns: int
    verified: bool
    read_back: object = None
    attempts: int = 1
    error: str | None = None
    coalesced: int = 0
    """Earlier requests of the target this one replaced while it waited."""

    @property
    def action(self) -> str:
        """``written`` or ``write_failed``: the alert history's action for it."""
        return "written" if self.verified else "write_failed"

    def summary(self) -> str:
        """One line for the alert's history and the log."""
        r = self.request
        head = f"rule {r.rule} ({r.phase}): {r.value!r} to {r.connector} {r.address}"
        tries = f"{self.attempts} tr{'y' if self.attempts == 1 else 'ies'}"
        extra = f"; {self.coalesced} earlier request(s) coalesced" if self.coalesced else ""
        if self.verified:
            return f"{head}: written and read back as {self.read_back!r} ({tries}{extra})"
        return f"{head}: failed after {tries}: {self.error}{extra}"


OnResult = Callable[[WriteResult], Awaitable[None]]


@dataclass
class _Target:
    connector: str
    config: WritebackTargetConfig
    interval_s: float
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: WriteRequest | None = None
    queued: deque[WriteRequest] = field(default_factory=deque)
    replaced: int = 0
    last_start: float | None = None
    state: str = "idle"
    writes: int = 0
    verified: int = 0
    failed: int = 0
    coalesced: int = 0
    last_value: object = None
    last_written_ns: int | None = None
    last_error: str | None = None
    last_error_ns: int | None = None
    task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> bool:
        """Whether a request waits to be written."""
        return self.pending is not None or bool(self.queued)

    def take(self) -> tuple[WriteRequest, int] | None:
        """The waiting request and how many it replaced; the slot is empty after."""
        if self.queued:
            return self.queued.popleft(), 0
        request, self.pending = self.pending, None
        coalesced, self.replaced = self.replaced, 0
        return None if request is None else (request, coalesced)

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "writes": self.writes,
            "verified": self.verified,
            "failed": self.failed,
            "coalesced": self.coalesced,
            "pending": len(self.queued)
            if self.config.queue
            else (None if self.pending is None else repr(self.pending.value)),
            "last_value": None if self.last_value is None else repr(self.last_value),
            "last_written_at": None
            if self.last_written_ns is None
            else format_ns(self.last_written_ns),
            "last_error": self.last_error,
            "last_error_at": None if self.last_error_ns is None else format_ns(self.last_error_ns),
        }


def _retryable(err: BaseException) -> bool:
    """A failure that may pass on the next try: not a refusal or a failed verification."""
    if isinstance(err, WriteRefused | WriteNotVerified):
        return False
    return isinstance(err, ConnectorError | OSError | TimeoutError)


class WritebackService:
    """Writes alert values to the allow-listed targets of machines.

    Parameters
    ----------
    allow
        The project's ``writeback`` section: per connector, the targets it may write.
    writers
        A :class:`~shopfloor.runtime.writeback.writer.Writer` per connector name.
    on_result
        Told of every write's outcome (the alert engine records it in the alert's
        history); its failures are counted, never raised.
    clock
        Now in UTC nanoseconds, for the records.
    """

    def __init__(
        self,
        allow: Sequence[WritebackConnectorConfig],
        writers: Mapping[str, Writer],
        *,
        on_result: OnResult | None = None,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self.allow = {entry.connector: entry for entry in allow}
        self.writers = dict(writers)
        self.on_result = on_result
        self._clock = clock
        self._targets: dict[tuple[str, str], _Target] = {}
        for entry in allow:
            for target in entry.targets:
                self._targets[(entry.connector, target.address)] = _Target(
                    entry.connector, target, entry.interval_s(target)
                )
        self.refused = 0
        self.last_refused: str | None = None
        self.record_errors = 0
        self._pending_records: set[asyncio.Task[None]] = set()
        self.listeners: list[OnResult] = []
        """Told of every write's outcome too (after ``on_result``)."""

    async def start(self) -> None:
        """Start one task per allow-listed target."""
        for key, target in self._targets.items():
            if target.task is None:
                target.task = asyncio.create_task(
                    self._run(target), name=f"writeback:{key[0]}:{key[1]}"
                )

    def request(self, request: WriteRequest) -> bool:
        """Hand ``request`` to its target (never waits); ``False`` when it is not allow-listed.

        A value already waiting for the target is replaced (coalesced) by this one, unless
        the target queues its values.
        """
        target = self._targets.get((request.connector, request.address))
        if target is None or request.connector not in self.writers:
            self.refused += 1
            self.last_refused = (
                f"rule {request.rule}: {request.connector} {request.address} is not in the "
                "writeback allow-list"
                if target is None
                else f"rule {request.rule}: connector {request.connector!r} has no writer"
            )
            log.error("writeback.refused %s", self.last_refused)
            return False
        if target.config.queue:
            if len(target.queued) >= target.config.max_queued:
                lost = target.queued.popleft()
                self._lose(target, lost)
            target.queued.append(request)
            target.wake.set()
            return True
        if target.pending is not None:
            target.replaced += 1
            target.coalesced += 1
            log.info(
                "writeback.coalesced connector=%s address=%s dropped=%r latest=%r",
                request.connector,
                request.address,
                target.pending.value,
                request.value,
            )
        target.pending = request
        target.wake.set()
        return True

    def _lose(self, target: _Target, lost: WriteRequest) -> None:
        """A queued request given up because the queue is full: failed, recorded."""
        target.failed += 1
        target.state = "failed"
        error = f"{target.config.max_queued} values were waiting already; this one was given up"
        target.last_error, target.last_error_ns = error, self._clock()
        result = WriteResult(lost, self._clock(), False, None, 0, error)
        log.error("writeback.failed %s", result.summary())
        task = asyncio.get_running_loop().create_task(self._record(result))
        self._pending_records.add(task)
        task.add_done_callback(self._pending_records.discard)

    async def _run(self, target: _Target) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await target.wake.wait()
            target.wake.clear()
            if not target.waiting:
                continue
            if target.last_start is not None:
                delay = target.last_start + target.interval_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # requests meanwhile replace the pending one
            taken = target.take()
            if taken is None:
                continue
            target.last_start = loop.time()
            result = await self._write(target, *taken)
            await self._record(result)
            if target.waiting:  # asked for while writing: next round
                target.wake.set()

    async def _write(self, target: _Target, request: WriteRequest, coalesced: int) -> WriteResult:
        from tenacity import retry_if_exception

        entry = self.allow[target.connector]
        writer = self.writers[target.connector]
        attempts = 0

        def reason(err: BaseException | None) -> str:
            if isinstance(err, TimeoutError):
                return f"no answer within {entry.timeout_s:g} s"
            return str(err) or type(err).__name__

        def failed_once(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            target.state = "retrying"
            target.last_error, target.last_error_ns = reason(error), self._clock()
            log.warning(
                "writeback.retry connector=%s address=%s attempt=%d error=%s",
                target.connector,
                request.address,
                state.attempt_number,
                target.last_error,
            )

        target.writes += 1
        try:
            value = target.config.admit(
                request.value, what=f"{request.connector} {request.address}"
            )
            async for attempt in entry.retry.retrying(
                retry_if_exception(_retryable), before_sleep=failed_once, attempts=entry.attempts
            ):
                with attempt:
                    attempts += 1
                    async with asyncio.timeout(entry.timeout_s):
                        read_back = await self._write_once(writer, target, request.address, value)
        except Exception as err:  # every failure is recorded; none reaches the alert engine
            target.state = "failed"
            target.failed += 1
            target.last_error, target.last_error_ns = reason(err), self._clock()
            result = WriteResult(
                request, self._clock(), False, None, max(attempts, 1), reason(err), coalesced
            )
            log.error("writeback.failed %s", result.summary())
            return result
        target.state = "ok"
        target.verified += 1
        target.last_value, target.last_written_ns = read_back, self._clock()
        result = WriteResult(request, self._clock(), True, read_back, attempts, None, coalesced)
        log.info("writeback.written %s", result.summary())
        return result

    @staticmethod
    async def _write_once(
        writer: Writer, target: _Target, address: str, value: WriteValue
    ) -> object:
        """One write; a read-back of the target's ``rest`` value counts as verified."""
        try:
            return await writer.write(address, value)
        except WriteNotVerified as err:
            rest = target.config.rest
            if rest is None or err.read_back is None:
                raise
            try:
                taken = err.read_back == target.config.admit(rest, what=address)
            except WriteRefused:
                taken = False
            if not taken:
                raise
            log.info("writeback.taken address=%s value=%r read_back=%r", address, value, rest)
            return err.read_back

    async def _record(self, result: WriteResult) -> None:
        for listener in (self.on_result, *self.listeners):
            if listener is None:
                continue
            try:
                await listener(result)
            except Exception as err:  # the outcome stays in health and the log
                self.record_errors += 1
                log.error("writeback.record_failed error=%s", err)

    async def stop(self) -> None:
        """Stop every target's task; a value still waiting is logged as not written."""
        for target in self._targets.values():
            if target.task is not None:
                target.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await target.task
                target.task = None
            for request in [*([target.pending] if target.pending else []), *target.queued]:
                log.warning(
                    "writeback.not_written connector=%s address=%s value=%r reason=stopped",
                    target.connector,
                    request.address,
                    request.value,
                )
            target.pending = None
            target.queued.clear()

    def health(self) -> dict[str, Any]:
        """State over all targets (``ok``, ``retrying`` or ``failed``) and each target's."""
        states = {t.state for t in self._targets.values()}
        if "failed" in states:
            state = "failed"
        elif "retrying" in states:
            state = "retrying"
        else:
            state = "ok"
        return {
            "state": state,
            "refused": self.refused,
            "last_refused": self.last_refused,
            "record_errors": self.record_errors,
            "targets": {f"{c} {a}": t.health() for (c, a), t in self._targets.items()},
        }
