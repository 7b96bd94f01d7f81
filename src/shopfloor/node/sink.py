"""The at-least-once handoff from the bus to the store.

:class:`StoreSink` reads batches from a bus subscription, writes them to the store and
acknowledges them only after the write is committed. When the store fails it negatively
acknowledges the batch (so it is delivered again), waits as the project's one
:class:`~shopfloor.retry.RetryPolicy` says (capped exponential backoff with jitter, the
loop run by tenacity) and tries again; while it waits the subscription's bounded queue
fills and publishers feel backpressure. A batch that keeps failing for a reason other
than unavailability is split and written record by record, so one poison record cannot
hold up the rest: it goes to the dead letters instead.

The sink never dies of a store error. When the store is *failed*
(:class:`~shopfloor.errors.StoreFailed`: disk full, I/O error, database invalidated) it
stops writing, shows ``failed`` with the reason in :attr:`StoreSink.health`, and reopens
the store after ``reopen_interval_s``, then less and less often; meanwhile the bus fills
and the connectors divert to their journals. Stopped while the store is failed, it spills
what is still queued to its on-disk ``spill`` journal (replayed by the platform at the
next start), so nothing queued is lost. Each failure is logged once, and so is each
recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from tenacity import RetryCallState, retry_if_exception_type, retry_if_not_exception_type

from shopfloor.bus import Bus, Delivery, Subscription
from shopfloor.connectors.journal import Journal
from shopfloor.errors import BusClosed, ShopfloorError, StoreFailed, StoreUnavailable
from shopfloor.model import UNS_ROOT, DeadLetter, now_ns, record_count
from shopfloor.model.codec import encode_records
from shopfloor.model.validation import describe_record
from shopfloor.retry import RetryPolicy
from shopfloor.store import Store, WriteReport

__all__ = ["Reopenable", "SinkStats", "StoreSink"]

log = logging.getLogger(__name__)


@dataclass
class SinkStats:
    """What the sink has done so far."""

    batches: int = 0
    records: int = 0
    report: WriteReport = field(default_factory=WriteReport)
    failures: int = 0
    last_error: str | None = None
    state: str = "ok"
    """``ok``; ``retrying`` (writes fail, retried with backoff); ``failed`` (the store is
    unusable, reopened every so often, until a write goes through again)."""
    failed_reason: str | None = None
    failed_since_ns: int | None = None
    reopen_attempts: int = 0
    recoveries: int = 0
    spilled: int = 0


def _nack(batch: list[Delivery]) -> None:
    """Hand a batch back in its order (each nack puts its delivery first in line)."""
    for delivery in reversed(batch):
        delivery.nack()


@runtime_checkable
class Reopenable(Protocol):
    """A store that can be closed and opened again in one call (after a full disk)."""

    async def reopen(self) -> None:
        """Close whatever is left and open again; raise ``StoreFailed`` while it cannot."""


class StoreSink:
    """Drain a bus subscription into a store.

    Parameters
    ----------
    bus, store
        Where from and where to.
    pattern
        Topic filter; the whole Unified Namespace by default.
    name
        Durable subscription name.
    maxsize, max_bytes
        Bounds of the subscription's queue, in records and in bytes (the bus's default
        bytes when None).
    batch_size, batch_bytes, batch_wait_s
        Records and bytes per write (the first record of a batch always goes), and how
        long to wait to fill a batch.
    backoff_initial_s, backoff_max_s
        Retry delays after a failed write (doubled each time, with jitter, capped); used
        when no ``retry`` policy is given.
    retry
        The retry policy after a failed write (the project's ``bus.store_retry``).
    reopen_interval_s, reopen_max_s
        How long after a failure the store is first reopened; the wait doubles with each
        attempt that does not bring it back, up to ``reopen_max_s``.
    spill
        Where what is still queued goes when the sink stops while the store is failed
        (``None``: it stays in the bus, and is lost with the process).
    """

    def __init__(
        self,
        bus: Bus,
        store: Store,
        *,
        pattern: str = f"{UNS_ROOT}/#",
        name: str = "store",
        maxsize: int = 1024,
        max_bytes: int | None = None,
        batch_size: int = 512,
        batch_bytes: int | None = None,
        batch_wait_s: float = 0.2,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        retry: RetryPolicy | None = None,
        reopen_interval_s: float = 5.0,
        reopen_max_s: float = 60.0,
        spill: Journal | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.pattern = pattern
        self.name = name
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.batch_wait_s = batch_wait_s
        self.retry = (
            retry
            if retry is not None
            else RetryPolicy(initial_s=backoff_initial_s, max_s=backoff_max_s, jitter=0.25)
        )
        self.reopen_interval_s = reopen_interval_s
        self.reopen_max_s = max(reopen_max_s, reopen_interval_s)
        self._reopen_delay = reopen_interval_s
        self.spill = spill
        self.stats = SinkStats()
        self._subscription: Subscription | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._needs_reopen = False

    async def subscribe(self) -> Subscription:
        """Subscribe now (call before producers start, so nothing is missed)."""
        if self._subscription is None:
            self._subscription = await self.bus.subscribe(
                self.pattern, name=self.name, maxsize=self.maxsize, max_bytes=self.max_bytes
            )
        return self._subscription

    @property
    def pending(self) -> int:
        """Records queued or in flight."""
        return 0 if self._subscription is None else self._subscription.pending

    async def run(self) -> None:
        """Write until :meth:`stop` is called and the queue is drained, or until cancelled."""
        sub = await self.subscribe()
        try:
            while True:
                if self._needs_reopen:
                    if self._stopping:
                        await self._spill(sub)
                        return
                    if not await self._reopen():
                        continue
                if self._stopping and sub.pending == 0:
                    return
                # any error but a failed store is retried with the policy's backoff; the
                # sink lives on whatever the store raises
                retrying = self.retry.retrying(
                    retry_if_exception_type(Exception)
                    & retry_if_not_exception_type((StoreFailed, BusClosed)),
                    before_sleep=self._on_failure,
                )
                failures = 0
                try:
                    async for attempt in retrying:
                        with attempt:
                            failures = attempt.retry_state.attempt_number - 1
                            await self._write_next(sub, one_by_one=failures >= 3)
                except BusClosed:
                    return
                except StoreFailed as err:
                    self._fail(err)
                    continue
                if failures or self.stats.failed_since_ns is not None:
                    self._recovered(failures)
        finally:
            await sub.close()
            self._subscription = None

    async def _write_next(self, sub: Subscription, *, one_by_one: bool) -> None:
        """Write the next batch; on failure hand it back (it comes first next time), raise."""
        batch = await sub.get_batch(self.batch_size, self.batch_wait_s, self.batch_bytes)
        if not batch:
            return
        try:
            if one_by_one and len(batch) > 1:
                await self._write_one_by_one(batch)
            else:
                await self._write(batch)
        except Exception:
            _nack(batch)
            raise

    def _on_failure(self, retry_state: RetryCallState) -> None:
        """Count a failed write; log only the first of a run of failures."""
        err = retry_state.outcome.exception() if retry_state.outcome is not None else None
        self.stats.failures += 1
        self.stats.last_error = (str(err) or type(err).__name__) if err else None
        if retry_state.attempt_number == 1:
            self.stats.state = "retrying"
            log.warning(
                "store_sink.write_failed error=%s",
                self.stats.last_error,
                exc_info=err if err is not None and not isinstance(err, ShopfloorError) else None,
            )

    async def _write(self, batch: list[Delivery]) -> None:
        report = await self.store.write([d.record for d in batch])
        for delivery in batch:
            delivery.ack()
        self._account(batch, report)

    async def _write_one_by_one(self, batch: list[Delivery]) -> None:
        for delivery in batch:
            try:
                report = await self.store.write([delivery.record])
            except (StoreUnavailable, StoreFailed):
                raise  # the store failed, not the record: keep it and retry
            except ShopfloorError as err:
                record = delivery.record
                await self.store.write_dead_letters(
                    [
                        DeadLetter(
                            source=record.provenance.connector,
                            location=delivery.topic,
                            reason=f"the store refused this record: {err}",
                            payload=describe_record(record),
                            detail={"category": "store_error"},
                        )
                    ]
                )
                report = WriteReport(offered=record_count([record]))
                report.reject("store_error", report.offered)
            delivery.ack()
            self._account([delivery], report)

    def _account(self, batch: list[Delivery], report: WriteReport) -> None:
        self.stats.batches += 1
        self.stats.records += len(batch)
        self.stats.report.add(report)

    # -- a failed store ----------------------------------------------------------------

    def _fail(self, err: StoreFailed) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(err)
        self.stats.state = "failed"
        self.stats.failed_reason = err.reason
        self._needs_reopen = True
        if self.stats.failed_since_ns is None:  # once per outage, not per reopen attempt
            self.stats.failed_since_ns = now_ns()
            log.error("store_sink.store_failed reason=%r error=%s", err.reason, err)

    def _recovered(self, failures_in_row: int) -> None:
        since = self.stats.failed_since_ns
        if since is not None:
            log.info(
                "store_sink.store_recovered after_s=%.1f reopen_attempts=%d",
                (now_ns() - since) / 1e9,
                self.stats.reopen_attempts,
            )
            self.stats.recoveries += 1
        else:
            log.info("store_sink.recovered after_failures=%d", failures_in_row)
        self.stats.state = "ok"
        self.stats.failed_reason = None
        self.stats.failed_since_ns = None
        self._reopen_delay = self.reopen_interval_s

    async def _reopen(self) -> bool:
        """Wait (or until stopped), then reopen; True once it worked."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._reopen_delay):
                await self._wake.wait()
        if self._stopping:
            return False
        # a reopen can succeed on a disk that is still full: back off until a write works
        self._reopen_delay = min(self._reopen_delay * 2, self.reopen_max_s)
        self.stats.reopen_attempts += 1
        try:
            if isinstance(self.store, Reopenable):
                await self.store.reopen()
            else:
                with contextlib.suppress(Exception):
                    await self.store.close()
                await self.store.open()
        except StoreFailed as err:
            self.stats.failed_reason = err.reason
            return False
        except Exception as err:  # still failing: keep the first reason, try again later
            log.debug("store_sink.reopen_failed error=%s", err)
            return False
        log.debug("store_sink.store_reopened attempts=%d", self.stats.reopen_attempts)
        self._needs_reopen = False  # still "failed" until a write goes through
        return True

    async def _spill(self, sub: Subscription) -> None:
        """Move what is queued to the spill journal, acknowledging each batch once on disk."""
        spill = self.spill
        if spill is None:
            if sub.pending:
                log.error(
                    "store_sink.unsaved pending=%d reason=%r", sub.pending, self.stats.failed_reason
                )
            return
        while True:
            try:
                batch = await sub.get_batch(self.batch_size, 0.01, self.batch_bytes)
            except BusClosed:
                break
            if not batch:
                break
            payloads = [encode_records([d.record])[0] for d in batch]
            try:
                await asyncio.to_thread(spill.append, payloads)
            except OSError as err:  # the spill shares the full disk: say what stays behind
                _nack(batch)
                log.error(
                    "store_sink.spill_failed dir=%s pending=%d error=%s",
                    spill.directory,
                    sub.pending,
                    err,
                )
                return
            for delivery in batch:
                delivery.ack()
            self.stats.spilled += len(batch)
        if self.stats.spilled:
            log.warning(
                "store_sink.spilled records=%d dir=%s reason=%r",
                self.stats.spilled,
                spill.directory,
                self.stats.failed_reason,
            )

    async def spill_pending(self) -> int:
        """Spill what is queued now (after :meth:`run` was cancelled); return how many."""
        before = self.stats.spilled
        sub = await self.subscribe()
        try:
            await self._spill(sub)
        finally:
            await sub.close()
            self._subscription = None
        return self.stats.spilled - before

    @property
    def health(self) -> dict[str, Any]:
        """The store as the sink sees it: ``state``, the reason when failed, counters."""
        since = self.stats.failed_since_ns
        return {
            "state": self.stats.state,
            "reason": self.stats.failed_reason,
            "failed_for_s": None if since is None else round((now_ns() - since) / 1e9, 1),
            "reopen_attempts": self.stats.reopen_attempts,
            "recoveries": self.stats.recoveries,
            "spilled": self.stats.spilled,
        }

    def stop(self) -> None:
        """Finish what is queued (or spill it when the store is failed), then return."""
        self._stopping = True
        self._wake.set()
