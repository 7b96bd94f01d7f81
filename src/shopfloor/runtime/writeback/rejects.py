"""The reject gate: defective parts an image deployment finds, written to the machine.

:class:`RejectGate` follows the image deployments the project's ``rejects`` name, on
every asset where they run in *active* mode (the deployment runtime tells it, as it tells
the alert engine). It reads their ``classified`` events (one per image, see
:mod:`shopfloor.runtime.deployments.images`) and, for a defective part, hands its part id
to the :class:`~shopfloor.runtime.writeback.WritebackService`: the project's allow-list,
pacing, retries and read-back apply as to any write-back, and the target must queue its
values (every part id is written, in order). Each outcome becomes an event on the
deployment's ``<name>.events`` (``rejected`` or ``reject_failed``, with the part id), so
a part's whole story is in one place.

Nothing is dropped silently: an uncertain part is counted for manual review (unless the
project rejects uncertain parts too), a defective part without a part id or whose image
is older than ``max_age_s`` (it has left the gate) is counted and logged, and a shadow
deployment's events are never acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from shopfloor.bus import Bus, Subscription
from shopfloor.errors import BusClosed, ShopfloorError
from shopfloor.model import (
    NS_PER_S,
    EventRecord,
    Provenance,
    SignalRef,
    format_ns,
    now_ns,
    topic_for,
)
from shopfloor.model.deployment import SHADOW_SOURCE, Deployment
from shopfloor.runtime.config import RejectConfig
from shopfloor.runtime.writeback.service import WritebackService, WriteRequest, WriteResult

__all__ = ["REJECT_RULE", "RejectGate"]

log = logging.getLogger(__name__)

REJECT_RULE = "reject:"
"""Prefix of the ``rule`` of a reject's :class:`WriteRequest`: ``reject:<deployment>``."""

_REMEMBERED = 10_000
"""Images per watched deployment whose reject was already decided (redeliveries skipped)."""


class _Watch:
    """One deployment's events on one asset, with what became of its parts."""

    def __init__(self, config: RejectConfig, deployment: Deployment) -> None:
        self.config = config
        self.deployment = deployment
        self.ref = SignalRef(deployment.asset, deployment.signal_name("events"))
        self.subscription: Subscription | None = None
        self.task: asyncio.Task[None] | None = None
        self.order: deque[int] = deque()
        self.seen: set[int] = set()
        self.counts = {
            "defective": 0,
            "requested": 0,
            "rejected": 0,
            "failed": 0,
            "review": 0,
            "too_late": 0,
            "no_part_id": 0,
        }
        self.last_error: str | None = None

    def health(self) -> dict[str, Any]:
        return {
            "model": self.deployment.ref,
            "target": f"{self.config.connector} {self.config.address}",
            **self.counts,
            "last_error": self.last_error,
        }


class RejectGate:
    """Rejects the defective parts of active image deployments (a platform service).

    Parameters
    ----------
    rejects
        The project's ``rejects`` section.
    bus
        Where the deployments' events come from and the outcomes go.
    writeback
        Writes the part ids (its allow-list must hold each target, queued).
    clock
        Now in UTC nanoseconds (how old an image is); tests pin it.
    """

    name = "rejects"

    def __init__(
        self,
        rejects: Sequence[RejectConfig],
        bus: Bus,
        writeback: WritebackService,
        *,
        clock: Callable[[], int] = now_ns,
        batch_size: int = 256,
    ) -> None:
        self.rejects = list(rejects)
        self.bus = bus
        self.writeback = writeback
        self._clock = clock
        self._batch_size = batch_size
        self._watches: dict[str, _Watch] = {}
        self._by_rule: dict[tuple[str, str], _Watch] = {}
        self._started = False
        self.waiting: dict[str, str] = {}
        self._wait_for([])

    async def start(self) -> None:
        """Start the write-back targets and read the events of what runs already."""
        self.writeback.listeners.append(self._written)
        await self.writeback.start()
        self._started = True
        for watch in self._watches.values():
            await self._watch(watch)

    def _wait_for(self, running: Sequence[Deployment]) -> dict[str, _Watch]:
        wanted: dict[str, _Watch] = {}
        for config in self.rejects:
            mine = [d for d in running if d.name == config.deployment]
            active = [d for d in mine if d.active and d.image_signal is not None]
            for d in active:
                watch = _Watch(config, d)
                wanted[watch.ref.path] = watch
            self.waiting.pop(config.deployment, None)
            if not active:
                self.waiting[config.deployment] = (
                    f"deployment {config.deployment!r} runs in shadow mode only: a shadow "
                    "never rejects"
                    if any(d.active is False for d in mine)
                    else f"no image deployment {config.deployment!r} runs actively"
                )
        return wanted

    async def watch_deployments(self, running: Sequence[Deployment]) -> None:
        """Follow the running deployments (called by the deployment runtime on each change)."""
        wanted = self._wait_for(running)
        for path in [p for p in self._watches if p not in wanted]:
            gone = self._watches.pop(path)
            self._by_rule.pop((REJECT_RULE + gone.config.deployment, gone.deployment.asset), None)
            await self._unwatch(gone)
        for path, watch in wanted.items():
            current = self._watches.get(path)
            if current is not None:
                current.deployment = watch.deployment  # a swap keeps the counts
                continue
            self._watches[path] = watch
            self._by_rule[(REJECT_RULE + watch.config.deployment, watch.deployment.asset)] = watch
            if self._started:
                await self._watch(watch)

    async def _watch(self, watch: _Watch) -> None:
        if watch.task is not None:
            return
        watch.subscription = await self.bus.subscribe(
            topic_for(watch.ref), name=f"rejects:{watch.ref.path}"
        )
        watch.task = asyncio.create_task(self._read(watch), name=f"rejects:{watch.ref.path}")

    async def _unwatch(self, watch: _Watch) -> None:
        if watch.task is not None:
            watch.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch.task
        if watch.subscription is not None:
            with contextlib.suppress(Exception):
                await watch.subscription.close()

    async def _read(self, watch: _Watch) -> None:
        assert watch.subscription is not None
        while True:
            try:
                batch = await watch.subscription.get_batch(self._batch_size, 0.5)
            except BusClosed:
                return
            for delivery in batch:
                record = delivery.record
                if isinstance(record, EventRecord) and record.kind == "classified":
                    try:
                        await self._take(watch, record)
                    except ShopfloorError as err:  # counted, logged; the next part goes on
                        watch.counts["failed"] += 1
                        watch.last_error = f"{type(err).__name__}: {err}"
                        log.error("rejects.failed path=%s error=%s", watch.ref.path, err)
                delivery.ack()

    async def _take(self, watch: _Watch, event: EventRecord) -> None:
        """Decide on one classified part; request its reject when it is one."""
        if event.provenance.connector.startswith(SHADOW_SOURCE):
            return
        if event.ts_ns in watch.seen:
            return  # a redelivery: decided already
        watch.seen.add(event.ts_ns)
        watch.order.append(event.ts_ns)
        if len(watch.order) > _REMEMBERED:
            watch.seen.discard(watch.order.popleft())
        config = watch.config
        outcome = str(event.attributes.get("outcome", ""))
        label = str(event.attributes.get("class", ""))
        if outcome == "uncertain" and config.uncertain == "review":
            watch.counts["review"] += 1
            return
        rejected = outcome == "uncertain" or (
            outcome == "defective" and (config.classes is None or label in config.classes)
        )
        if not rejected:
            return
        watch.counts["defective"] += 1
        part = event.attributes.get("part_id")
        if not part:
            watch.counts["no_part_id"] += 1
            await self._tell(watch, event, "reject_failed", "the image has no part id", None)
            return
        age_s = (self._clock() - event.ts_ns) / NS_PER_S
        if age_s > config.max_age_s:
            watch.counts["too_late"] += 1
            await self._tell(
                watch,
                event,
                "reject_failed",
                f"classified {age_s:.1f} s after its image (max_age_s {config.max_age_s:g}): "
                "the part has left the gate",
                str(part),
            )
            return
        value: int | str = int(part) if str(part).isdigit() else str(part)
        request = WriteRequest(
            REJECT_RULE + config.deployment,
            None,
            watch.deployment.asset,
            "raised",
            config.connector,
            config.address,
            value,
            event.ts_ns,
        )
        if self.writeback.request(request):
            watch.counts["requested"] += 1
        else:
            watch.counts["failed"] += 1
            watch.last_error = self.writeback.last_refused
            await self._tell(watch, event, "reject_failed", str(watch.last_error), str(part))

    async def _written(self, result: WriteResult) -> None:
        """Count a reject's outcome and tell it on the deployment's events."""
        request = result.request
        watch = self._by_rule.get((request.rule, request.asset))
        if watch is None:
            return  # another rule's write
        part = str(request.value)
        if result.verified:
            watch.counts["rejected"] += 1
            message = f"part {part} rejected ({request.connector} {request.address})"
            await self._publish(watch, request.at_ns, "rejected", message, part, "info")
        else:
            watch.counts["failed"] += 1
            watch.last_error = result.error
            message = f"part {part} could not be rejected: {result.error}"
            await self._publish(watch, request.at_ns, "reject_failed", message, part, "alarm")

    async def _tell(
        self, watch: _Watch, event: EventRecord, kind: str, why: str, part: str | None
    ) -> None:
        watch.last_error = why
        log.error("rejects.not_written path=%s part=%s reason=%s", watch.ref.path, part, why)
        message = f"part {part or '?'} not rejected: {why}"
        await self._publish(watch, event.ts_ns, kind, message, part, "alarm")

    async def _publish(
        self, watch: _Watch, ts_ns: int, kind: str, message: str, part: str | None, severity: str
    ) -> None:
        d = watch.deployment
        record = EventRecord(
            watch.ref,
            ts_ns,
            kind,
            Provenance(f"{REJECT_RULE}{d.name}", d.ref),
            message,
            severity,
            {
                "part_id": part or "",
                "connector": watch.config.connector,
                "address": watch.config.address,
            },
        )
        try:
            await self.bus.publish(topic_for(record.signal), record)
        except ShopfloorError as err:  # the counts and the log still tell
            log.error("rejects.publish_failed path=%s error=%s", watch.ref.path, err)

    async def stop(self) -> None:
        """Stop reading; the write-back stops its targets (a waiting value is logged)."""
        for watch in self._watches.values():
            await self._unwatch(watch)
            watch.task = None
        self._started = False
        with contextlib.suppress(ValueError):
            self.writeback.listeners.remove(self._written)
        await self.writeback.stop()

    def health(self) -> dict[str, Any]:
        """Per watched deployment and asset, what became of its parts; what waits."""
        watches = {
            f"{w.deployment.name} on {w.deployment.asset}": w.health()
            for w in self._watches.values()
        }
        failed = any(w.counts["failed"] or w.counts["no_part_id"] for w in self._watches.values())
        return {
            "state": "degraded" if failed else "running",
            "watching": watches,
            "waiting": dict(self.waiting),
            "writeback": self.writeback.health(),
            "last_part": max(
                (format_ns(w.order[-1]) for w in self._watches.values() if w.order), default=None
            ),
        }
