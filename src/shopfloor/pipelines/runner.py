"""Pipelines on live data: a platform service fed by the bus.

Subscribes to the asset's topics, feeds the records of the pipeline's signals to a
:class:`~shopfloor.pipelines.pipeline.PipelineRun` (the same engine as history) and
publishes the outputs: derived signals on their Unified Namespace topics (the store sink
keeps them), bus outputs on their topics, alerts as events. Deliveries are acknowledged
once their windows are handed on; an error on one batch is dead-lettered and counted, and
the pipeline goes on.

Compute never runs on the event loop: each service owns one worker thread, and every push
into its :class:`PipelineRun` (features, scalers, models) runs there, one batch at a time, so
the loop keeps serving OPC UA keep-alives and the API while windows are scored. A thread,
not a process: numpy's and scipy's FFTs and filters release the GIL, the run's state stays
in one place, and ``bench/bench_loop_lag.py`` measures the loop's lag with it (see
``docs/benchmarks.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shopfloor.bus import Bus, Subscription
from shopfloor.errors import BusClosed, ShopfloorError
from shopfloor.model import UNS_ROOT, DeadLetter, Record, format_ns, topic_for
from shopfloor.pipelines.frames import FeatureFrame
from shopfloor.pipelines.outputs import OutputPlan
from shopfloor.pipelines.pipeline import Pipeline

__all__ = ["PipelineService"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_Outputs = tuple[list[tuple[str, Record]], int]
"""(topic, record) pairs to publish, and the start of the newest window."""

_PUBLISH_SLICE = 16


class PipelineService:
    """Run one pipeline on live data (a platform :class:`~shopfloor.node.Service`).

    Parameters
    ----------
    pipeline, plan
        The (fitted) pipeline and its outputs.
    bus
        Where its inputs come from and its outputs go.
    register, dead_letters
        Register the derived signals; keep what failed.
    batch_size, maxsize
        Deliveries taken at once; the subscription's queue bound.
    stop_timeout_s
        How long :meth:`stop` waits for the batch being computed before cancelling it.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        plan: OutputPlan,
        bus: Bus,
        *,
        register: Callable[[str, Sequence[Any]], Awaitable[Any]],
        dead_letters: Callable[[Sequence[DeadLetter]], Awaitable[None]],
        batch_size: int = 256,
        maxsize: int = 1024,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.pipeline = pipeline
        self.plan = plan
        self.plan.version = pipeline.fit_version
        self.bus = bus
        self.name = f"pipeline:{pipeline.name}"
        self._register = register
        self._dead_letters = dead_letters
        self._batch_size = batch_size
        self._maxsize = maxsize
        self._stop_timeout_s = stop_timeout_s
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._wanted = set(pipeline.signal_refs)
        self._run = pipeline.start()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        self.last_error: str | None = None
        self.last_window_ns: int | None = None
        self.published = 0

    async def start(self) -> None:
        """Register derived signals, subscribe and start."""
        if self.plan.signals:
            await self._register(self.pipeline.asset.path, self.plan.signals)
        self._subscription = await self.bus.subscribe(
            f"{UNS_ROOT}/{self.pipeline.asset.path}/+", name=self.name, maxsize=self._maxsize
        )
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def _compute(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` in the service's worker thread (one call at a time, in order)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _loop(self) -> None:
        assert self._subscription is not None
        while True:
            try:
                batch = await self._subscription.get_batch(self._batch_size, 0.5)
            except BusClosed:
                return
            if self._stopping:
                return  # not acknowledged: a durable bus delivers them again
            self._idle.clear()
            try:
                records = [d.record for d in batch if d.record.signal in self._wanted]
                try:
                    if records:
                        await self._handle(await self._compute(self._score, records))
                except ShopfloorError as err:
                    await self._fail(err, records)
                except (ValueError, FloatingPointError) as err:  # a bad window must not stop it
                    await self._fail(err, records)
                for delivery in batch:
                    delivery.ack()
            finally:
                self._idle.set()

    def _outputs(self, frame: FeatureFrame | None) -> _Outputs | None:
        """The records of a frame (in the worker thread: alerts keep state there)."""
        if frame is None or len(frame) == 0:
            return None
        stored, published = self.plan.records(frame)
        return [(topic_for(r.signal), r) for r in stored] + published, int(frame.t0_ns[-1])

    def _score(self, records: list[Record]) -> _Outputs | None:
        return self._outputs(self._run.process(records))

    def _finish(self) -> _Outputs | None:
        return self._outputs(self._run.finish())

    async def _handle(self, outputs: _Outputs | None) -> None:
        if outputs is None:
            return
        pairs, last_window_ns = outputs
        for i, (topic, record) in enumerate(pairs, 1):
            await self.bus.publish(topic, record)
            if i % _PUBLISH_SLICE == 0:
                await asyncio.sleep(0)  # many columns: let the loop breathe between slices
        self.published += len(pairs)
        self.last_window_ns = last_window_ns

    async def _fail(self, err: Exception, records: list[Record]) -> None:
        self.errors += 1
        self.last_error = f"{type(err).__name__}: {err}"
        if self.errors in (1, 10, 100, 1000):
            log.error(
                "pipeline.failed pipeline=%s errors=%d error=%s",
                self.pipeline.name,
                self.errors,
                err,
            )
        await self._dead_letters(
            [
                DeadLetter(
                    source=self.name,
                    location=self.pipeline.name,
                    reason=(
                        f"pipeline {self.pipeline.name!r} failed on {len(records)} record(s): {err}"
                    ),
                    detail={"category": "pipeline_error"},
                )
            ]
        )

    async def stop(self) -> None:
        """Finish the batch in hand and the last windows, unsubscribe.

        Waits up to ``stop_timeout_s`` for the batch being computed; its windows are
        published, then the windows the end of data completes.
        """
        self._stopping = True
        if self._task is not None:
            try:
                if not self._task.done():
                    async with asyncio.timeout(self._stop_timeout_s):
                        await self._idle.wait()
            except TimeoutError:
                log.warning(
                    "pipeline.stop_timeout pipeline=%s timeout_s=%g",
                    self.pipeline.name,
                    self._stop_timeout_s,
                )
            finally:  # also when stop itself is cancelled
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ShopfloorError, ValueError):
            await self._handle(await self._compute(self._finish))
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._subscription is not None:
            await self._subscription.close()

    def health(self) -> dict[str, Any]:
        """Windows, gating, gaps, errors, last window, state of each alert."""
        run = self._run
        return {
            "windows": run.windows_emitted,
            "gated_out": run.windows_gated_out,
            "gaps": run.gaps,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_window": format_ns(self.last_window_ns) if self.last_window_ns else None,
            "spec_hash": self.pipeline.spec_hash[:12],
            "fit_version": self.pipeline.fit_version,
            "alerts": {alert.name: alert.state for alert in self.plan.alerts},
        }
