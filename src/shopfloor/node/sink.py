"""The at-least-once handoff from the bus to the store.

:class:`StoreSink` reads batches from a bus subscription, writes them to the store and
acknowledges them only after the write is committed. When the store fails it negatively
acknowledges the batch (so it is delivered again), waits as the project's one
:class:`~shopfloor.retry.RetryPolicy` says (capped exponential backoff with jitter, the
loop run by tenacity) and tries again; while it waits the subscription's bounded queue
fills and publishers feel backpressure. A batch that keeps failing for a reason other
than unavailability is split and written record by record, so one poison record cannot
hold up the rest: it goes to the dead letters instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tenacity import RetryCallState, retry_if_exception_type

from shopfloor.bus import Bus, Delivery, Subscription
from shopfloor.errors import BusClosed, ShopfloorError, StoreFailed, StoreUnavailable
from shopfloor.model import UNS_ROOT, DeadLetter, record_count
from shopfloor.model.validation import describe_record
from shopfloor.retry import RetryPolicy
from shopfloor.store import Store, WriteReport

__all__ = ["SinkStats", "StoreSink"]

log = logging.getLogger(__name__)


@dataclass
class SinkStats:
    """What the sink has done so far."""

    batches: int = 0
    records: int = 0
    report: WriteReport = field(default_factory=WriteReport)
    failures: int = 0
    last_error: str | None = None


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
    batch_size, batch_wait_s
        Records per write, and how long to wait to fill a batch.
    backoff_initial_s, backoff_max_s
        Retry delays after a failed write (doubled each time, with jitter, capped); used
        when no ``retry`` policy is given.
    retry
        The retry policy after a failed write (the project's, from its file).
    """

    def __init__(
        self,
        bus: Bus,
        store: Store,
        *,
        pattern: str = f"{UNS_ROOT}/#",
        name: str = "store",
        maxsize: int = 1024,
        batch_size: int = 512,
        batch_wait_s: float = 0.2,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.pattern = pattern
        self.name = name
        self.maxsize = maxsize
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.retry = (
            retry
            if retry is not None
            else RetryPolicy(initial_s=backoff_initial_s, max_s=backoff_max_s, jitter=0.25)
        )
        self.stats = SinkStats()
        self._subscription: Subscription | None = None
        self._stopping = False

    async def subscribe(self) -> Subscription:
        """Subscribe now (call before producers start, so nothing is missed)."""
        if self._subscription is None:
            self._subscription = await self.bus.subscribe(
                self.pattern, name=self.name, maxsize=self.maxsize
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
                if self._stopping and sub.pending == 0:
                    return
                retrying = self.retry.retrying(
                    retry_if_exception_type(ShopfloorError), before_sleep=self._on_failure
                )
                try:
                    async for attempt in retrying:
                        with attempt:
                            failures = attempt.retry_state.attempt_number - 1
                            await self._write_next(sub, one_by_one=failures >= 3)
                except BusClosed:
                    return
                if failures:
                    log.info("store_sink.recovered after_failures=%d", failures)
        finally:
            await sub.close()
            self._subscription = None

    async def _write_next(self, sub: Subscription, *, one_by_one: bool) -> None:
        """Write the next batch; on failure nack it (it comes first next time) and raise."""
        batch = await sub.get_batch(self.batch_size, self.batch_wait_s)
        if not batch:
            return
        try:
            if one_by_one and len(batch) > 1:
                await self._write_one_by_one(batch)
            else:
                await self._write(batch)
        except ShopfloorError:
            for delivery in batch:
                delivery.nack()
            raise

    def _on_failure(self, retry_state: RetryCallState) -> None:
        """Count a failed write; log only the first of a run of failures."""
        err = retry_state.outcome.exception() if retry_state.outcome is not None else None
        self.stats.failures += 1
        self.stats.last_error = str(err)
        if retry_state.attempt_number == 1:
            log.warning("store_sink.write_failed error=%s", err)

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

    def stop(self) -> None:
        """Finish what is queued, then return from :meth:`run`."""
        self._stopping = True
