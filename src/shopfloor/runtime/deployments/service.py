"""The deployment runtime: the store's desired state, scored live (a platform service).

:class:`DeploymentService` reconciles what runs with the deployments the store holds
(:class:`~shopfloor.store.DeploymentStore`): at start and every ``reconcile_s`` it reads
them, loads what is new or changed (:class:`.DeploymentCatalog`: artifact hash, pipeline
and input schema checked; a refusal is kept in :meth:`health` and tried again only when
the desired state changes) and stops what is gone. So ``shopfloor deploy`` (directly,
or over the API while the platform runs) only writes desired state, and the platform
follows; after a crash, the same deployments run again.

Deployments on the same asset with the same pipeline form a *group*: one subscription to
the asset's topics, one :class:`~shopfloor.pipelines.PipelineRun` (the live pipeline
service's engine: the same windows and features as history), and the
:class:`.Scorer` s of each deployment scoring every frame. A group handles one batch at
a time under its lock; a swap replaces a scorer under the same lock, so it happens
between two batches and the new version takes over the old one's last window: no
window is scored twice or skipped.

Compute never runs on the event loop: the features and every scorer run on a pool of
``workers`` scoring threads (numpy, scipy and onnxruntime release the GIL), shared by
all groups; a group's batches stay in order, several groups and several deployments of
a group run at once. The workers are the parallelism: while the service runs, BLAS
(OpenBLAS, MKL) uses one thread per call in the whole process. Its own pool would add
nothing to a window's small products, and its idle threads spin after each call on the
cores the workers need (measured: as much CPU as the scoring itself, so that a second
worker found no core left).

Resuming: when a group starts, each deployment resumes after its last stored window (the
newest ``<name>.score`` in the store; a deployment that never scored starts at the time
it was deployed). The windows from there to now are read from stored history through the
same run, then live deliveries follow, so windows missed while the platform was down are
scored, and none twice. The persistence of its state is seeded from the stored scores
and state of its last windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from shopfloor.bus import Bus, Subscription
from shopfloor.errors import (
    BusClosed,
    DeploymentRefused,
    ShopfloorError,
    StoreError,
    UnknownSignal,
)
from shopfloor.model import (
    NS_PER_S,
    UNS_ROOT,
    DeadLetter,
    ImageRecord,
    Record,
    SignalRef,
    format_ns,
    now_ns,
    topic_for,
)
from shopfloor.model.deployment import Deployment, image_input
from shopfloor.pipelines import FeatureFrame, Pipeline, read_history
from shopfloor.runtime.deployments.catalog import DeploymentCatalog, ImageRunnable, Runnable
from shopfloor.runtime.deployments.images import ImageScorer, image_deployment_signals
from shopfloor.runtime.deployments.scorer import Scorer, deployment_signals
from shopfloor.runtime.deployments.states import state_from_code
from shopfloor.store import Store
from shopfloor.store.protocol import DeploymentStore

__all__ = ["DeploymentService", "read_output"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_IMAGE_CHUNK = 64
"""Images read from the store at once while catching up."""
Key = tuple[str, str]
OnChange = Callable[[list[Deployment]], Awaitable[None]]


async def read_output(
    store: Store, deployment: Deployment, output: str, start_ns: int, end_ns: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """A deployment's stored ``output`` in ``[start_ns, end_ns)``: window starts and values.

    Empty when the deployment never ran (its signals are not registered yet).
    """
    try:
        table = await store.read_scalars(
            SignalRef(deployment.asset, deployment.signal_name(output)), start_ns, end_ns
        )
    except UnknownSignal:
        return np.empty(0, np.int64), np.empty(0)
    return (
        table.column("ts").cast("int64").to_numpy(),
        table.column("value").to_numpy(zero_copy_only=False).astype(np.float64),
    )


class _OneBlasThread:
    """BLAS limited to one thread per call while at least one holder runs (process-wide)."""

    _lock = threading.Lock()
    _holders = 0
    _limits: threadpool_limits | None = None

    @classmethod
    def acquire(cls) -> None:
        with cls._lock:
            if cls._holders == 0:
                cls._limits = threadpool_limits(limits=1, user_api="blas")
            cls._holders += 1

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._holders -= 1
            if cls._holders == 0 and cls._limits is not None:
                cls._limits.restore_original_limits()
                cls._limits = None


class _Reader:
    """What every group does: subscribe, catch up, read batches in order, fail softly, stop."""

    name: str
    location: str
    input_name: str

    def __init__(self, service: DeploymentService, asset: str) -> None:
        self.service = service
        self.asset = asset
        self.topic = f"{UNS_ROOT}/{asset}/+"
        """What it subscribes to: the asset's signals (a pipeline may take several)."""
        self.scorers: dict[Key, Any] = {}
        self.lock = asyncio.Lock()
        self.wanted: set[SignalRef] = set()
        self.subscription: Subscription | None = None
        self.task: asyncio.Task[None] | None = None
        self.caught_up = 0
        self.errors = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        """Subscribe (before reading history, so nothing falls between), then run."""
        self.subscription = await self.service.bus.subscribe(
            self.topic,
            name=self.name,
            maxsize=self.service.maxsize,
        )
        self.task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        assert self.subscription is not None
        try:
            await self._catch_up()
        except (ShopfloorError, ValueError, FloatingPointError) as err:
            await self._fail(err, "catch-up from stored history")
        while True:
            try:
                batch = await self.subscription.get_batch(self.service.batch_size, 0.5)
            except BusClosed:
                return
            records = [d.record for d in batch if d.record.signal in self.wanted]
            if records:
                try:
                    await self.handle(records)
                except (ShopfloorError, ValueError, FloatingPointError) as err:
                    await self._fail(err, f"{len(records)} record(s)")
            for delivery in batch:
                delivery.ack()

    async def handle(self, records: Sequence[Record]) -> None:
        """Score the records (one batch at a time)."""
        raise NotImplementedError

    async def _catch_up(self) -> None:
        raise NotImplementedError

    async def _missed(self, margin_ns: int, refs: Sequence[SignalRef]) -> tuple[int, int] | None:
        """``[start, end)`` of the history to score again (``None``: nothing was missed).

        It starts ``margin_ns`` before the earliest scorer's resume point (each scorer's
        set from the store if it does not know it yet) and ends now, or after the newest
        stored value of ``refs`` if that is stamped ahead of the clock.
        """
        async with self.lock:
            starts = []
            for scorer in self.scorers.values():
                if scorer.last_t0_ns is None:
                    await self.service.resume(scorer)
                if scorer.last_t0_ns is not None:
                    starts.append(scorer.last_t0_ns)
        if not starts:
            return None
        start, end = min(starts) + 1 - margin_ns, self.service.clock()
        for ref in refs:
            span = await self.service.store.time_range(ref)
            if span is not None:
                end = max(end, span[1] + 1)
        if end <= start:
            return None
        log.info(
            "deployments.catch_up group=%s from=%s to=%s",
            self.name,
            format_ns(start),
            format_ns(end),
        )
        return start, end

    async def _fail(self, err: Exception, what: str) -> None:
        self.errors += 1
        self.last_error = f"{type(err).__name__}: {err}"
        if self.errors in (1, 10, 100, 1000):
            log.error("deployments.failed group=%s errors=%d error=%s", self.name, self.errors, err)
        with contextlib.suppress(ShopfloorError):
            await self.service.store.write_dead_letters(
                [
                    DeadLetter(
                        source=self.name,
                        location=self.location,
                        reason=f"scoring {what} on {self.asset!r} failed: {err}",
                        detail={"category": "deployment_error"},
                    )
                ]
            )

    async def stop(self, timeout_s: float) -> None:
        """Let the batch in hand finish (up to ``timeout_s``), then stop reading."""
        if self.task is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    async with self.lock:
                        self.task.cancel()
            except TimeoutError:
                log.warning("deployments.stop_timeout group=%s", self.name)
            finally:
                self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.subscription is not None:
            with contextlib.suppress(Exception):
                await self.subscription.close()


class _Group(_Reader):
    """The deployments on one asset with one pipeline: one run, its scorers."""

    def __init__(self, service: DeploymentService, pipeline: Pipeline) -> None:
        super().__init__(service, pipeline.asset.path)
        self.pipeline = pipeline
        self.name = f"deployments:{pipeline.asset.path}:{pipeline.name}"
        self.location = self.input_name = pipeline.name
        self.run = pipeline.start()
        self.wanted = set(pipeline.signal_refs)

    def _features(self, records: Sequence[Record]) -> FeatureFrame | None:
        """The features of the windows ``records`` complete (in a scoring thread)."""
        windows = self.run.push(records)
        return None if windows is None else self.pipeline.transform(windows, until=1)

    async def handle(self, records: Sequence[Record]) -> None:
        """Push records; score and publish the windows they complete (one batch at a time)."""
        async with self.lock:
            frame = await self.service.compute(self._features, records)
            if frame is None or len(frame) == 0:
                return
            scorers = list(self.scorers.values())
            outputs = await asyncio.gather(*(self.service.compute(s.score, frame) for s in scorers))
            for produced in outputs:
                await self.service.publish(produced)

    async def _catch_up(self) -> None:
        """Score the windows missed since each deployment's last one, from stored history."""
        p = self.pipeline
        margin = round(p.window_samples * NS_PER_S / p.rate_hz) + p.hop_ns
        span = await self._missed(margin, p.signal_refs)
        if span is None:
            return
        async for records in read_history(self.service.store, p, *span):
            if records:
                await self.handle(records)
                self.caught_up += 1


class _ImageGroup(_Reader):
    """The image deployments on one image signal: each image to each scorer, in order."""

    def __init__(self, service: DeploymentService, signal: SignalRef) -> None:
        super().__init__(service, signal.asset)
        self.signal = signal
        self.input_name = image_input(signal.name)
        self.name = f"deployments:{signal.asset}:{self.input_name}"
        self.location = signal.path
        self.wanted = {signal}
        self.topic = topic_for(signal)

    async def handle(self, records: Sequence[Record]) -> None:
        """Classify the images with every scorer; publish the outputs, keep the dead letters."""
        images = [r for r in records if isinstance(r, ImageRecord)]
        if not images:
            return
        async with self.lock:
            scorers = list(self.scorers.values())
            compute = self.service.compute
            outputs = await asyncio.gather(*(compute(s.score, images) for s in scorers))
            for produced, letters in outputs:
                await self.service.publish(produced)
                if letters:
                    await self.service.store.write_dead_letters(letters)

    async def _catch_up(self) -> None:
        """Classify the images stored since each deployment's last one, oldest first."""
        span = await self._missed(0, [self.signal])
        if span is None:
            return
        start, end = span
        while start < end:
            images = await self.service.store.read_images(
                self.signal, start, end, limit=_IMAGE_CHUNK
            )
            if not images:
                return
            await self.handle(images)
            self.caught_up += 1
            start = images[-1].ts_ns + 1


class DeploymentService:
    """Run the store's deployments on live data (a platform :class:`~shopfloor.node.Service`).

    Parameters
    ----------
    store
        Holds the desired state (a :class:`~shopfloor.store.DeploymentStore`), the history
        missed windows are scored from, and the last scored window of each deployment.
    bus
        Where the windows' data come from and the scores go (the store sink keeps them).
    catalog
        Loads and checks deployments.
    workers
        Scoring threads shared by all deployments.
    reconcile_s
        How often the desired state is read again.
    on_change
        Told the running deployments whenever they change (the alert engine watches the
        active ones).
    clock
        Now in UTC nanoseconds (where catch-up from history ends); tests pin it.
    """

    name = "deployments"

    def __init__(
        self,
        store: Store,
        bus: Bus,
        catalog: DeploymentCatalog,
        *,
        workers: int = 1,
        reconcile_s: float = 1.0,
        on_change: OnChange | None = None,
        clock: Callable[[], int] = now_ns,
        batch_size: int = 256,
        maxsize: int = 4096,
        stop_timeout_s: float = 10.0,
    ) -> None:
        if not isinstance(store, DeploymentStore):
            raise StoreError(f"the store {type(store).__name__} keeps no deployments")
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers!r}")
        self.store = store
        self._deployments: DeploymentStore = store
        self.bus = bus
        self.catalog = catalog
        self.workers = workers
        self.clock = clock
        self.batch_size = batch_size
        self.maxsize = maxsize
        self._reconcile_s = reconcile_s
        self._on_change = on_change
        self._stop_timeout_s = stop_timeout_s
        self._executor: ThreadPoolExecutor | None = None
        self._groups: dict[tuple[str, str], _Group | _ImageGroup] = {}
        self._where: dict[Key, tuple[str, str]] = {}
        self.refused: dict[Key, tuple[Deployment, str]] = {}
        self._reconciling = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._blas_limited = False
        self.swaps = 0
        self.reconcile_errors = 0
        self.last_error: str | None = None

    # -- threads and the bus ----------------------------------------------------------------

    async def compute(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on a scoring thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="scoring")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def publish(self, records: Sequence[Record]) -> None:
        """Put a scorer's records on the bus (the store sink keeps them, alert rules see them)."""
        for i, record in enumerate(records, 1):
            await self.bus.publish(topic_for(record.signal), record)
            if i % 16 == 0:
                await asyncio.sleep(0)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the deployments the store holds, then keep following it.

        A store that cannot be read now is said in :meth:`health`; the platform starts
        and the runtime tries again every ``reconcile_s``. From now until :meth:`stop`,
        BLAS uses one thread per call in this process (see the module docstring).
        """
        if not self._blas_limited:
            _OneBlasThread.acquire()
            self._blas_limited = True
        try:
            await self.reconcile()
        except ShopfloorError as err:
            self.reconcile_errors += 1
            self.last_error = f"{type(err).__name__}: {err}"
            log.error("deployments.reconcile_failed error=%s", err)
        self._task = asyncio.create_task(self._follow(), name="deployments:reconcile")
        log.info("deployments.started running=%d workers=%d", len(self._where), self.workers)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_s)
            try:
                await self.reconcile()
            except ShopfloorError as err:  # the store may be down for a while: keep going
                self.reconcile_errors += 1
                self.last_error = f"{type(err).__name__}: {err}"
                if self.reconcile_errors in (1, 10, 100, 1000):
                    log.error("deployments.reconcile_failed error=%s", err)

    async def reconcile(self) -> bool:
        """Make what runs match the store's desired state; whether anything changed."""
        async with self._reconciling:
            desired = {d.key: d for d in await self._deployments.list_deployments() if d.running}
            changed = False
            new_groups: list[_Group | _ImageGroup] = []
            for key in [k for k in self._where if k not in desired]:
                await self._remove(key)
                changed = True
            for key, wanted in desired.items():
                current = self._scorer(key)
                if current is not None and self._same(current.deployment, wanted):
                    continue
                if key in self.refused and self.refused[key][0] == wanted:
                    continue
                try:
                    runnable = await asyncio.to_thread(self.catalog.load, wanted)
                except DeploymentRefused as err:
                    self.refused[key] = (wanted, str(err))
                    log.error("deployments.refused name=%s asset=%s error=%s", *key, err)
                    continue
                self.refused.pop(key, None)
                try:
                    await self._place(runnable, current, new_groups)
                except ShopfloorError as err:  # e.g. a card whose calibration cannot be read
                    self.refused[key] = (wanted, str(err))
                    log.error("deployments.refused name=%s asset=%s error=%s", *key, err)
                    continue
                changed = True
            for group in new_groups:  # once all its deployments are in: one catch-up for all
                await group.start()
            for key in [k for k in self.refused if k not in desired]:
                del self.refused[key]
            if changed and self._on_change is not None:
                await self._on_change(self.running())
            return changed

    @staticmethod
    def _same(a: Deployment, b: Deployment) -> bool:
        return a.ref == b.ref and a.mode == b.mode and a.pipeline == b.pipeline

    def _scorer(self, key: Key) -> Scorer | ImageScorer | None:
        where = self._where.get(key)
        return None if where is None else self._groups[where].scorers.get(key)

    def _running(self) -> list[tuple[Scorer | ImageScorer, _Group | _ImageGroup]]:
        """Each running scorer with its group (a swap in progress shows once, or not yet)."""
        out = []
        for key, where in self._where.items():
            group = self._groups.get(where)
            scorer = None if group is None else group.scorers.get(key)
            if group is not None and scorer is not None:
                out.append((scorer, group))
        return out

    def running(self) -> list[Deployment]:
        """The deployments that run now."""
        return [s.deployment for s, _ in self._running()]

    async def _place(
        self,
        runnable: Runnable | ImageRunnable,
        current: Scorer | ImageScorer | None,
        new_groups: list[_Group | _ImageGroup],
    ) -> None:
        """Start a deployment, or swap it in for ``current`` between two batches."""
        d = runnable.deployment
        group = self._groups.get(runnable.group)
        new_group = group is None
        if isinstance(runnable, ImageRunnable):
            await self.store.register_signals(d.asset, image_deployment_signals(d.name))
            if group is None:
                group = _ImageGroup(self, runnable.signal)
        else:
            await self.store.register_signals(d.asset, deployment_signals(d.name))
            if group is None:
                group = _Group(self, runnable.pipeline)
        old_where = self._where.get(d.key)
        if current is not None and old_where is not None:
            old = self._groups[old_where]
            async with old.lock:  # between two batches of the old group
                scorer = _scorer_of(
                    runnable, last_t0_ns=current.last_t0_ns, replaces=current.deployment.ref
                )
                del old.scorers[d.key]
                if old is group:
                    group.scorers[d.key] = scorer
            if old is not group:
                if not old.scorers:
                    await self._drop(old_where)
                async with group.lock:
                    group.scorers[d.key] = scorer
            self.swaps += 1
            log.info(
                "deployments.swapped name=%s asset=%s from=%s to=%s mode=%s after=%s",
                d.name,
                d.asset,
                current.deployment.ref,
                d.ref,
                d.mode,
                format_ns(current.last_t0_ns) if current.last_t0_ns is not None else "-",
            )
        else:
            scorer = _scorer_of(runnable)
            if not new_group:
                await self.resume(scorer)
            async with group.lock:
                group.scorers[d.key] = scorer
            log.info("deployments.started name=%s asset=%s model=%s mode=%s", *d.key, d.ref, d.mode)
        self._where[d.key] = runnable.group
        if new_group:
            self._groups[runnable.group] = group
            new_groups.append(group)

    async def _remove(self, key: Key) -> None:
        where = self._where.pop(key)
        group = self._groups[where]
        async with group.lock:
            group.scorers.pop(key, None)
        log.info("deployments.stopped name=%s asset=%s", *key)
        if not group.scorers:
            await self._drop(where)

    async def _drop(self, where: tuple[str, str]) -> None:
        group = self._groups.pop(where)
        await group.stop(self._stop_timeout_s)

    async def resume(self, scorer: Scorer | ImageScorer) -> None:
        """Set where ``scorer`` resumes: after its last stored window, or at its deploy time.

        The persistence of its state is seeded from its last stored windows. An image
        scorer resumes after its last stored image (each image has a ``state``).
        """
        d = scorer.deployment
        image = isinstance(scorer, ImageScorer)
        span = await self.store.time_range(scorer.refs["state" if image else "score"])
        if span is None:
            scorer.last_t0_ns = d.changed_ns - 1
            return
        last = span[1]
        scorer.last_t0_ns = last
        if isinstance(scorer, ImageScorer):
            return
        n = 1 if scorer.states is None else scorer.states.n
        hop = scorer.runnable.pipeline.hop_ns
        t0, scores = await read_output(self.store, d, "score", last - 2 * n * hop, last + 1)
        _, codes = await read_output(self.store, d, "state", last, last + 1)
        state = state_from_code(float(codes[-1])) if codes.size else "normal"
        scorer.seed(t0.tolist()[-n:], scores.tolist()[-n:], state)

    async def stop(self) -> None:
        """Stop following the store and every group (each finishes its batch in hand)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for where in list(self._groups):
            await self._drop(where)
        self._where.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._blas_limited:
            _OneBlasThread.release()
            self._blas_limited = False

    def health(self) -> dict[str, Any]:
        """Each deployment's model, mode, windows, state and last window; refusals; errors."""
        running = {}
        for s, group in self._running():
            entry: dict[str, Any] = {
                "model": s.deployment.ref,
                "mode": s.deployment.mode,
                "pipeline": group.input_name,
                "windows": s.windows,
                "state": s.state,
                "state_changes": s.state_changes,
                "last_window": format_ns(s.last_t0_ns) if s.last_t0_ns is not None else None,
            }
            if isinstance(s, ImageScorer):
                entry["images"] = s.health()
            running[f"{s.deployment.name} on {s.deployment.asset}"] = entry
        groups = list(self._groups.values())
        images = [s for s, _ in self._running() if isinstance(s, ImageScorer)]
        errors = sum(g.errors for g in groups) + self.reconcile_errors
        errors += sum(s.outcomes["failed"] for s in images)
        last_error = next((g.last_error for g in groups if g.last_error), self.last_error)
        last_error = last_error or next((s.last_error for s in images if s.last_error), None)
        return {
            "state": "degraded" if last_error or self.refused else "running",
            "workers": self.workers,
            "deployments": running,
            "refused": {f"{k[0]} on {k[1]}": reason for k, (_, reason) in self.refused.items()},
            "swaps": self.swaps,
            "errors": errors,
            "last_error": last_error,
        }


def _scorer_of(
    runnable: Runnable | ImageRunnable,
    *,
    last_t0_ns: int | None = None,
    replaces: str | None = None,
) -> Scorer | ImageScorer:
    """The scorer of a loaded deployment: windows of features, or images."""
    if isinstance(runnable, ImageRunnable):
        return ImageScorer(runnable, last_t0_ns=last_t0_ns, replaces=replaces)
    return Scorer(runnable, last_t0_ns=last_t0_ns, replaces=replaces)
