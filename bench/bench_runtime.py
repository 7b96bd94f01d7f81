"""Benchmark of the deployment runtime: latency to the store, throughput, scaling.

Run alone from the repository root::

    .venv/bin/python -m bench.bench_runtime

Data: accelerometers at 25.6 kHz in 100 ms blocks, published on the platform's in-process
bus as a connector publishes what it receives. One asset has a one-channel accelerometer,
twelve have a ten-channel one. A model (isolation forest, ONNX) is trained per layout with
``shopfloor train`` on 60 s of stored history (1 s windows: RMS, peak, kurtosis, crest
factor, ISO velocity RMS, spectral centroid and kurtosis of every channel) and deployed
active on each asset. Each run is a fresh :class:`~shopfloor.node.Platform` on the
project's DuckDB store: the bus, the store sink (raw blocks and scores into DuckDB) and the
deployment runtime (:class:`~shopfloor.runtime.deployments.DeploymentService`); the
store's ``write`` is timed as it returns (committed).

* **Latency**: blocks published in real time on 1, 10 and 50 channels (the solo asset;
  one ten-channel asset; five). For each window, the time from the publish of the block
  that completes it to its ``<name>.score`` row committed in the store. Baseline: the same
  publisher with no deployment runtime, from the same block's publish to the block
  committed in the store (a bare sink).
* **Throughput**: twelve ten-channel assets, blocks published as fast as the bus takes
  them, ``scoring_workers=1``, every thread of the process pinned to one CPU: channel
  seconds of data scored (score in the store) per wall second, i.e. how many 25.6 kHz
  channels the process keeps up with in real time. Baseline: a bare ``numpy.fft.rfft``
  of every channel's window, on the same CPU.
* **Scaling**: the same load with two scoring workers against one, not pinned. Beside
  it, how much a scoring worker holds the GIL: a probe thread sleeping 1 ms again and
  again wakes late while a thread does a worker's job (windows, features, model,
  calibration, records) with no bus or store, against a pure-Python thread; and the
  share of their time two such threads spend blocked (``/proc/self/task/*/schedstat``:
  neither running nor waiting for a core). Each run also says what every group of
  threads (event loop, scoring workers, store writer, native threads: DuckDB's and
  BLAS's) ran and waited for a core.

* **Latency from the CNC simulator**: ``shopfloor sim cnc`` in real time in its own
  process, its tri-axial accelerometer read by the platform's OPC UA connector, a model
  trained on the simulator's own (offline) signal; from the end of each 1 s block (its
  last sample's UTC time, when the simulator can first send it) to its score committed.
  Baseline: the same block committed by the store sink, in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.bench_memory import start_simulator
from bench.harness import Measurement, Section
from shopfloor.config import Project, load_project
from shopfloor.model import (
    NS_PER_S,
    Provenance,
    Record,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
    format_ns,
    now_ns,
    topic_for,
)
from shopfloor.node import Platform, ServiceFactory
from shopfloor.node.backends import create_bus
from shopfloor.node.deployments import project_catalog
from shopfloor.node.services import project_services
from shopfloor.runtime.deployments import DeploymentService, Runnable, Scorer, deploy_model
from shopfloor.services.models import train_model
from shopfloor.services.options import TrainOptions
from shopfloor.sim.cnc import CncMachineModel, CncSimConfig
from shopfloor.store import DuckDBStore, WriteReport

FS_HZ = 25600.0
BLOCK_S = 0.1
BLOCK_N = round(FS_HZ * BLOCK_S)
HOP_NS = round(BLOCK_S * NS_PER_S)
WIDE_CHANNELS = 10
N_WIDE = 12
LEVELS = (1, 10, 50)
HISTORY_S = 60
LATENCY_S = float(os.environ.get("SHOPFLOOR_BENCH_RUNTIME_S", "20"))
"""Seconds of real-time data per latency run (each level; the baseline runs get half)."""
THROUGHPUT_S = float(os.environ.get("SHOPFLOOR_BENCH_RUNTIME_LOAD_S", "8"))
"""Seconds of data per asset in each throughput and scaling run."""
LATENCY_GOAL_MS = 250.0
THROUGHPUT_GOAL = 100.0
SCALING_GOAL = 1.8
SCALING_REPEAT = 4
GIL_WINDOWS = 40
PROBE_SLEEP_S = 0.001
PROBE_LATE_S = 0.002
PROBE_T0_NS = 10**18
SIM_S = float(os.environ.get("SHOPFLOOR_BENCH_RUNTIME_SIM_S", "20"))
"""Seconds of the CNC simulator's blocks timed (after SIM_SETTLE_S)."""
SIM_SETTLE_S = 4
MODEL = "isolation_forest"

ROOT = "acme/bench/runtime/line1/cell1"
SOLO = f"{ROOT}/solo"
WIDE = [f"{ROOT}/wide-{i:02d}" for i in range(1, N_WIDE + 1)]
FEATURES = [
    "rms",
    "peak",
    "kurtosis",
    "crest_factor",
    "velocity_rms",
    "spectral_centroid",
    "spectral_kurtosis",
]


def _project_text() -> str:
    def asset(path: str, channels: int) -> str:
        names = ", ".join(f"c{i}" for i in range(channels))
        return (
            f"  - path: {path}\n    signals:\n      - {{name: accel, kind: waveform, unit: g, "
            f"sample_rate_hz: {FS_HZ:g}, channels: [{names}]}}\n"
        )

    def pipeline(name: str, path: str) -> str:
        return (
            f"  - name: {name}\n    asset: {path}\n    sources: [accel]\n"
            f"    window: {{length_s: 1.0}}\n"
            f"    steps:\n      - features: {{features: [{', '.join(FEATURES)}]}}\n"
        )

    return (
        "project: {name: bench-runtime}\n"
        "runtime: {scoring_workers: 1, reconcile_s: 0.2}\n"
        "assets:\n"
        + asset(SOLO, 1)
        + "".join(asset(a, WIDE_CHANNELS) for a in WIDE)
        + "pipelines:\n"
        + pipeline("solo-health", SOLO)
        + pipeline("wide-health", WIDE[0])
    )


class _Signals:
    """Reused 100 ms blocks of data (a shaft tone, a resonance, noise) per channel count."""

    def __init__(self, variants: int = 10) -> None:
        self._data: dict[int, list[np.ndarray[Any, Any]]] = {}
        self._variants = variants

    def data(self, channels: int, i: int) -> np.ndarray[Any, Any]:
        if channels not in self._data:
            rng = np.random.default_rng(channels)
            out = []
            for v in range(self._variants):
                t = (v * BLOCK_N + np.arange(BLOCK_N)) / FS_HZ
                tone = np.sin(2 * np.pi * 160.0 * t) + 0.3 * np.sin(2 * np.pi * 3000.0 * t)
                gains = np.linspace(0.5, 1.5, channels)
                noise = 0.2 * rng.standard_normal((BLOCK_N, channels))
                out.append(np.ascontiguousarray(tone[:, None] * gains + noise))
            self._data[channels] = out
        return self._data[channels][i % self._variants]

    def block(self, asset: str, channels: int, t0_ns: int, i: int) -> WaveformBlock:
        return WaveformBlock(
            SignalRef(asset, "accel"), t0_ns, FS_HZ, self.data(channels, i), "g", Provenance("b")
        )


class _TimedStore(DuckDBStore):
    """The project's store, noting when each block and each score is committed.

    ``keep_raw=False`` drops the waveform blocks instead of writing them (the runtime's
    own cost, without storing the raw data it scores).
    """

    def __init__(self, project: Project, *, keep_raw: bool = True) -> None:
        super().__init__(project.store_path, project.config.store)
        self.keep_raw = keep_raw
        self.blocks: dict[tuple[str, int], float] = {}
        self.scores: dict[tuple[str, int], float] = {}
        self._target: tuple[dict[tuple[str, int], float], int, int] | None = None
        self.reached = asyncio.Event()

    def expect(self, *, scores: bool, from_ns: int, n: int) -> None:
        """Set :attr:`reached` once ``n`` scores (or blocks) from ``from_ns`` on are stored."""
        self._target = (self.scores if scores else self.blocks, from_ns, n)

    async def write(self, records: Sequence[Record]) -> WriteReport:
        if not self.keep_raw:
            records = [r for r in records if not isinstance(r, WaveformBlock)]
        report = await super().write(records) if records else WriteReport()
        t = time.perf_counter()
        for r in records:
            if isinstance(r, WaveformBlock):
                self.blocks[(r.signal.asset, r.t0_ns)] = t
            elif isinstance(r, ScalarBatch) and r.signal.name.endswith(".score"):
                for t0 in r.ts_ns.tolist():
                    self.scores[(r.signal.asset, t0)] = t
        if self._target is not None:
            done, from_ns, n = self._target
            if sum(1 for k in done if k[1] >= from_ns) >= n:
                self.reached.set()
        return report


THREAD_GROUPS = {
    "MainThread": "event loop",
    "scoring": "scoring workers",
    "store-writer": "store writer",
    "store-reader": "store readers",
    "asyncio": "other Python threads",
}


@dataclass
class _Use:
    """What a group of threads did over a stretch of wall time, in seconds."""

    running_s: float = 0.0
    waiting_s: float = 0.0
    """Runnable but waiting for a core (other processes, or too few cores)."""


def _thread_use() -> dict[int, tuple[str, float, float]]:
    """Per thread: its group's name, seconds run and seconds waited for a core so far.

    From ``/proc/self/task/TID/schedstat`` (Linux); empty elsewhere. Threads Python did
    not start (DuckDB's, BLAS's) are ``native threads``.
    """
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[int, tuple[str, float, float]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            ran, waited, _ = Path(f"/proc/self/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        name = names.get(int(tid))
        group = "native threads"
        if name is not None:
            prefix = name.rstrip("0123456789").rstrip("_")
            group = THREAD_GROUPS.get(prefix, "other Python threads")
        out[int(tid)] = (group, int(ran) / 1e9, int(waited) / 1e9)
    return out


def _use_by_group(
    before: dict[int, tuple[str, float, float]], after: dict[int, tuple[str, float, float]]
) -> dict[str, _Use]:
    groups: dict[str, _Use] = {}
    for tid, (group, ran, waited) in after.items():
        _, ran0, waited0 = before.get(tid, (group, 0.0, 0.0))
        use = groups.setdefault(group, _Use())
        use.running_s += ran - ran0
        use.waiting_s += waited - waited0
    return groups


@dataclass
class _Plant:
    folder: Path
    project: Project
    next_t0_ns: int = 0
    """Where the next run's data starts: after everything stored so far."""
    signals: _Signals = field(default_factory=_Signals)

    def start_ns(self) -> int:
        t = max(self.next_t0_ns, (now_ns() // NS_PER_S + 1) * NS_PER_S)
        return t


async def _train_models(project: Project, models: list[tuple[str, str]], start: int) -> None:
    """Train each ``(model, pipeline)`` on the ``HISTORY_S`` seconds from ``start``."""
    for name, pipeline in models:
        options = TrainOptions(
            name=name,
            pipeline=pipeline,
            from_=format_ns(start),
            to=format_ns(start + HISTORY_S * NS_PER_S),
            model=MODEL,
            split="0.6,0.4",
        )
        await train_model(options, project, who="bench")


SIM_ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def _sim_project_text(endpoint: str) -> str:
    """The CNC simulator's tri-axial accelerometer, read over OPC UA, one pipeline on it."""
    return f"""\
project: {{name: bench-runtime-sim}}
assets:
  - path: {SIM_ASSET}
    signals:
      - name: spindle_accel
        kind: waveform
        unit: g
        sample_rate_hz: {FS_HZ:g}
        channels: [x, y, z]
        connector: cnc
        source: CNC01.Vibration
        source_options:
          channel_nodes: [ns=2;s=CNC01.Vibration.AccelX, ns=2;s=CNC01.Vibration.AccelY,
                          ns=2;s=CNC01.Vibration.AccelZ]
connectors:
  - {{name: cnc, type: opcua, endpoint: "{endpoint}", security_mode: None,
      publishing_interval_ms: 100}}
runtime: {{scoring_workers: 1, reconcile_s: 0.2}}
pipelines:
  - name: sim-health
    asset: {SIM_ASSET}
    sources: [spindle_accel]
    window: {{length_s: 1.0}}
    steps:
      - features: {{features: [{", ".join(FEATURES)}]}}
"""


async def _sim_train(project: Project) -> None:
    """60 s of the simulator's model (offline, same configuration) stored; trained; deployed."""
    model = CncMachineModel(CncSimConfig())
    start = (now_ns() // NS_PER_S - HISTORY_S - 600) * NS_PER_S
    ref = SignalRef(SIM_ASSET, "spindle_accel")
    blocks = [
        WaveformBlock(ref, b.t0_ns, b.sample_rate_hz, b.data, "g", Provenance("bench"))
        for b in model.blocks(start, HISTORY_S)
    ]
    async with DuckDBStore(project.store_path, project.config.store) as store:
        for a in project.config.assets:
            await store.register_signals(a.path, a.signals)
        await store.write(blocks)
    await _train_models(project, [("sim", "sim-health")], start)
    async with DuckDBStore(project.store_path, project.config.store) as store:
        await deploy_model(
            store, project_catalog(project), "sim@1", assets=[SIM_ASSET], mode="active", who="b"
        )


def _sim_latency(folder: Path, seconds: float) -> tuple[list[float], list[float]]:
    """Latency from each block's end in the simulator to its score, and to the block, stored.

    The simulator runs in real time in its own process; the block of ``[t, t + 1 s)``
    exists at ``t + 1 s`` (UTC, the same clock here): from then on the simulator computes
    and sends it, the connector receives it, the platform scores and stores it. The
    first few seconds (connection, backfill) are left out.
    """
    folder.mkdir(parents=True)
    sim, endpoint = start_simulator(folder, "runtime", time_scale=1.0)
    try:
        (folder / "factory.yaml").write_text(_sim_project_text(endpoint))
        project = load_project(folder)
        asyncio.run(_sim_train(project))
        return asyncio.run(_sim_run(project, seconds))
    finally:
        sim.stop()


async def _sim_run(project: Project, seconds: float) -> tuple[list[float], list[float]]:
    store = _TimedStore(project)
    # the project's services: its connector and its deployment runtime (as `shopfloor run`)
    services: list[ServiceFactory] = project_services(project, pipelines=False)
    platform = Platform(project, store, create_bus(project.config.bus), services=services)
    wall0_ns, perf0 = time.time_ns(), time.perf_counter()
    from_ns = (wall0_ns // NS_PER_S + SIM_SETTLE_S) * NS_PER_S
    await platform.start()
    try:
        await asyncio.sleep(seconds + SIM_SETTLE_S)
    finally:
        await platform.stop()

    def after_block_end(stored: dict[tuple[str, int], float]) -> list[float]:
        out = []
        for (_, t0), t in stored.items():
            if t0 >= from_ns:
                wall_ns = wall0_ns + (t - perf0) * 1e9
                out.append((wall_ns - (t0 + NS_PER_S)) / 1e6)
        return out

    return after_block_end(store.scores), after_block_end(store.blocks)


def _new_plant(folder: Path) -> _Plant:
    """The project file, loaded."""
    folder.mkdir(parents=True)
    (folder / "factory.yaml").write_text(_project_text())
    return _Plant(folder, load_project(folder))


async def _train(plant: _Plant) -> None:
    """History of the solo and the first wide asset; both models trained and deployed."""
    project = plant.project
    start = (now_ns() // NS_PER_S - HISTORY_S - 600) * NS_PER_S
    async with DuckDBStore(project.store_path, project.config.store) as store:
        for a in project.config.assets:
            await store.register_signals(a.path, a.signals)
        for asset, channels in ((SOLO, 1), (WIDE[0], WIDE_CHANNELS)):
            blocks = [
                plant.signals.block(asset, channels, start + i * HOP_NS, i)
                for i in range(HISTORY_S * 10)
            ]
            for chunk in range(0, len(blocks), 100):
                await store.write(blocks[chunk : chunk + 100])
    await _train_models(project, [("solo", "solo-health"), ("wide", "wide-health")], start)
    async with DuckDBStore(project.store_path, project.config.store) as store:
        catalog = project_catalog(project)
        await deploy_model(store, catalog, "solo@1", assets=[SOLO], mode="active", who="bench")
        await deploy_model(store, catalog, "wide@1", assets=WIDE, mode="active", who="bench")


@dataclass
class _Run:
    published: dict[tuple[str, int], float]
    store: _TimedStore
    started: float
    windows: int
    """Windows expected per asset."""
    t0_ns: int
    use: dict[str, _Use]
    """What each group of threads did from the first publish to the last record stored."""
    wall_s: float


def _layout(channels: int) -> list[tuple[str, int]]:
    """The assets carrying ``channels`` channels: the solo one, or ten-channel ones."""
    if channels == 1:
        return [(SOLO, 1)]
    return [(a, WIDE_CHANNELS) for a in WIDE[: channels // WIDE_CHANNELS]]


async def _run(
    plant: _Plant,
    layout: list[tuple[str, int]],
    seconds: float,
    *,
    workers: int | None,
    realtime: bool,
    keep_raw: bool = True,
    blas_pool: bool = False,
) -> _Run:
    """Publish ``seconds`` of data of each asset; wait until it is all in the store.

    ``workers=None`` runs no deployment runtime (the bare sink); ``blas_pool`` gives
    BLAS its own threads again once the runtime has started (as before it limited them).
    """
    project = plant.project
    store = _TimedStore(project, keep_raw=keep_raw)
    services: list[ServiceFactory] = []
    if workers is not None:
        n = workers

        def runtime(p: Platform) -> DeploymentService:
            return DeploymentService(
                p.store, p.bus, project_catalog(project), workers=n, reconcile_s=0.2
            )

        services.append(runtime)
    platform = Platform(project, store, create_bus(project.config.bus), services=services)
    await platform.start()
    if blas_pool:  # as before the runtime limited BLAS (it restores its limit at stop)
        threadpool_limits(limits=_cores(), user_api="blas")
    published: dict[tuple[str, int], float] = {}
    n_blocks = round(seconds / BLOCK_S)
    t0 = plant.start_ns()
    plant.next_t0_ns = t0 + n_blocks * HOP_NS + NS_PER_S
    try:
        if workers is not None:  # each group has read the (empty) history since its last run
            await asyncio.sleep(1.0)
        scored = workers is not None
        store.expect(
            scores=scored, from_ns=t0, n=len(layout) * (n_blocks // 10 if scored else n_blocks)
        )
        use_before = _thread_use()
        started = time.perf_counter()
        for i in range(n_blocks):
            if realtime:
                delay = started + (i + 1) * BLOCK_S - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            for asset, channels in layout:
                block = plant.signals.block(asset, channels, t0 + i * HOP_NS, i)
                published[(asset, block.t0_ns)] = time.perf_counter()
                await platform.bus.publish(topic_for(block.signal), block)
        windows = n_blocks // 10
        async with asyncio.timeout(120):
            await store.reached.wait()
        wall_s = time.perf_counter() - started
        use = _use_by_group(use_before, _thread_use())
    finally:
        await platform.stop()
    return _Run(published, store, started, windows, t0, use, wall_s)


def _latencies_ms(run: _Run, layout: list[tuple[str, int]], *, scored: bool) -> list[float]:
    """From the publish of each window's last block to its score (or that block) stored."""
    out = []
    for asset, _ in layout:
        for w in range(run.windows):
            last = run.t0_ns + (w * 10 + 9) * HOP_NS
            if scored:
                stored = run.store.scores[(asset, run.t0_ns + w * NS_PER_S)]
            else:
                stored = run.store.blocks[(asset, last)]
            out.append((stored - run.published[(asset, last)]) * 1e3)
    return out


def _rate(run: _Run, layout: list[tuple[str, int]]) -> float:
    """Channel seconds scored per wall second, from the first publish to the last score."""
    keys = [(a, run.t0_ns + w * NS_PER_S) for a, _ in layout for w in range(run.windows)]
    end = max(run.store.scores[k] for k in keys)
    channel_s = sum(c for _, c in layout) * run.windows
    return channel_s / (end - run.started)


@contextlib.contextmanager
def _pinned() -> Iterator[int | None]:
    """Pin every thread of this process to one CPU (``None`` where that is not possible)."""
    try:
        before = os.sched_getaffinity(0)
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except (AttributeError, OSError):
        yield None
        return
    cpu = max(before)
    pinned = []
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, {cpu})
            pinned.append(tid)
    try:
        yield cpu
    finally:
        for tid in [int(t) for t in os.listdir("/proc/self/task")]:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, before)


def _bare_rfft_rate(plant: _Plant, seconds: float = 3.0) -> float:
    """Channel seconds per wall second of a bare ``numpy.fft.rfft`` of each 1 s window."""
    windows = [
        np.concatenate([plant.signals.data(WIDE_CHANNELS, i + k) for k in range(10)]).T
        for i in range(4)
    ]
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for w in windows:
            np.fft.rfft(w, axis=-1)
            done += w.shape[0]
    return done / (time.perf_counter() - start)


def _cpu_note(run: _Run, layout: list[tuple[str, int]]) -> str:
    """Cores the run kept busy, by group of threads, and how long they waited for one."""
    channel_s = sum(c for _, c in layout) * run.windows
    running = sum(u.running_s for u in run.use.values())
    waiting = sum(u.waiting_s for u in run.use.values())
    parts = ", ".join(
        f"{group} {u.running_s / channel_s * 1e3:.2f}"
        for group, u in sorted(run.use.items(), key=lambda kv: -kv[1].running_s)
        if u.running_s > 0.001 * run.wall_s
    )
    scoring = run.use.get("scoring workers", _Use())
    return (
        f"{running / run.wall_s:.2f} cores busy on average, threads waiting for a core "
        f"{waiting / run.wall_s:.2f} of the time (summed over threads); the scoring workers "
        f"ran {scoring.running_s / run.wall_s:.2f} and waited for a core "
        f"{scoring.waiting_s / run.wall_s:.2f} of the time (summed over workers); CPU per "
        f"channel second {running / channel_s * 1e3:.2f} ms ({parts})"
    )


async def _runnables(plant: _Plant, assets: Sequence[str]) -> list[Runnable]:
    """The deployments on ``assets``, loaded as the runtime loads them."""
    project = plant.project
    async with DuckDBStore(project.store_path, project.config.store) as store:
        deployments = [d for d in await store.list_deployments() if d.running]
    catalog = project_catalog(project)
    return [catalog.load(d) for a in assets for d in deployments if d.asset == a]


def _scoring_work(plant: _Plant, runnable: Runnable, windows: int) -> Callable[[], None]:
    """A scoring worker's job for ``windows`` windows of one asset, with no bus or store.

    Cut the windows, compute the features, score, calibrate and make the records.
    """

    def work() -> None:
        run, scorer = runnable.pipeline.start(), Scorer(runnable)
        asset = runnable.deployment.asset
        for w in range(windows):
            blocks = [
                plant.signals.block(asset, WIDE_CHANNELS, PROBE_T0_NS + (w * 10 + i) * HOP_NS, i)
                for i in range(10)
            ]
            done = run.push(blocks)
            assert done is not None
            scorer.score(runnable.pipeline.transform(done, until=1))

    return work


def _late_wakeups(work: Callable[[], None]) -> float:
    """Share of a probe thread's 1 ms sleeps that end over 2 ms late while ``work`` runs.

    A thread waking from a sleep needs the GIL: while ``work`` holds it, the probe waits
    for the switch interval (5 ms). Waiting for a core delays it too, which the idle
    baseline of the same run shows.
    """
    stop = threading.Event()
    lateness: list[float] = []

    def probe() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            time.sleep(PROBE_SLEEP_S)
            lateness.append(time.perf_counter() - start - PROBE_SLEEP_S)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        work()
    finally:
        stop.set()
        thread.join()
    return float(np.mean(np.asarray(lateness) > PROBE_LATE_S)) if lateness else float("nan")


def _blocked_share(works: Sequence[Callable[[], None]]) -> float:
    """Mean share of their time threads running ``works`` at once are blocked.

    Blocked: neither running nor waiting for a core (``schedstat``), i.e. waiting for
    the GIL or any other lock.
    """
    shares: list[float] = []

    def measured(work: Callable[[], None]) -> None:
        path = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        ran0, waited0, _ = map(int, path.read_text().split())
        start = time.perf_counter()
        work()
        wall = time.perf_counter() - start
        ran, waited, _ = map(int, path.read_text().split())
        shares.append(1.0 - ((ran - ran0) + (waited - waited0)) / 1e9 / wall)

    threads = [threading.Thread(target=measured, args=(w,)) for w in works]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(0.0, statistics.mean(shares))


@dataclass
class _Gil:
    late_scoring: float
    late_python: float
    late_idle: float
    blocked_scoring: float | None
    blocked_python: float | None


def _gil(plant: _Plant, windows: int) -> _Gil:
    """How much the scoring work holds the GIL, against pure Python and an idle thread."""
    with threadpool_limits(limits=1, user_api="blas"):  # as in the runtime
        return _gil_limited(plant, windows)


def _gil_limited(plant: _Plant, windows: int) -> _Gil:
    runnables = asyncio.run(_runnables(plant, WIDE[:2]))
    works = [_scoring_work(plant, r, windows) for r in runnables]
    works[0]()  # warm up
    start = time.perf_counter()
    late_scoring = _late_wakeups(works[0])
    seconds = time.perf_counter() - start

    def spin() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    late_python = _late_wakeups(spin)
    late_idle = _late_wakeups(lambda: time.sleep(seconds))
    blocked_scoring = blocked_python = None
    if Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").exists():
        blocked_scoring = _blocked_share(works)
        blocked_python = _blocked_share([spin, spin])
    return _Gil(late_scoring, late_python, late_idle, blocked_scoring, blocked_python)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run(
    *,
    latency_s: float = LATENCY_S,
    load_s: float = THROUGHPUT_S,
    repeat: int = SCALING_REPEAT,
    gil_windows: int = GIL_WINDOWS,
    sim_s: float = SIM_S,
) -> Section:
    """Latency at 1, 10 and 50 channels, throughput on one core, 2 workers against 1.

    The keywords shrink the load: seconds of real-time data per latency run, seconds of
    data per asset in each throughput run, scaling runs of each kind, windows the GIL
    probe scores, seconds of the CNC simulator timed.
    """
    section = Section(
        title="Deployment runtime: latency, throughput, scaling (shopfloor.runtime.deployments)",
        description=(
            f"Accelerometers at {FS_HZ / 1000:g} kHz in {BLOCK_S * 1e3:g} ms blocks published "
            "on the platform's in-process bus, as a connector publishes what it receives; 1 s "
            f"windows, {len(FEATURES)} features per channel ({', '.join(FEATURES)}), an "
            "isolation forest (ONNX) per layout trained with `shopfloor train` and deployed "
            "active; each run a fresh platform (bus, store sink into DuckDB, deployment "
            "runtime). Latency: from the publish of the block completing a window to its "
            "score committed in the store, with blocks published in real time on 1 channel "
            f"(one asset), 10 (one 10-channel asset) and 50 (five); baseline: the same "
            "publisher with no runtime, publish to the block committed (bare sink). "
            f"Throughput: {N_WIDE} 10-channel assets published as fast as the bus takes "
            "them, one scoring worker, the process pinned to one CPU; baseline: bare "
            "numpy.fft.rfft of each channel's 1 s window on that CPU. Scaling: the same "
            "load with 2 scoring workers against 1, not pinned, best of "
            f"{repeat} interleaved runs each; and how much a scoring thread holds the GIL. "
            "These latencies start at the publish on the bus, where a connector hands over "
            "what it received; the CNC simulator's rows include the OPC UA hop: the "
            "simulator (`shopfloor sim cnc`, real time, its own process) sends 1 s blocks of "
            "its tri-axial accelerometer to the platform's OPC UA connector, timed from each "
            "block's last sample."
        ),
    )
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        plant = _new_plant(Path(tmp) / "plant")
        asyncio.run(_train(plant))
        # latency
        for channels in LEVELS:
            layout = _layout(channels)
            bare = asyncio.run(_run(plant, layout, latency_s / 2, workers=None, realtime=True))
            ours = asyncio.run(_run(plant, layout, latency_s, workers=1, realtime=True))
            base_ms = _latencies_ms(bare, layout, scored=False)
            ours_ms = _latencies_ms(ours, layout, scored=True)
            for q in (50, 99):
                goal = channels == 50 and q == 99
                section.measurements.append(
                    Measurement(
                        f"latency p{q}, {channels} channel{'s' if channels > 1 else ''}",
                        _percentile(ours_ms, q),
                        "ms",
                        _percentile(base_ms, q),
                        "bare sink",
                        higher_is_better=False,
                        goal=f"<= {LATENCY_GOAL_MS:g} ms" if goal else "",
                        goal_max=LATENCY_GOAL_MS if goal else None,
                    )
                )
            section.notes.append(
                f"{channels} channel(s): {len(ours_ms)} windows scored, latency max "
                f"{max(ours_ms):.0f} ms (bare sink: {len(base_ms)} blocks, max "
                f"{max(base_ms):.0f} ms)"
            )
        # latency from the CNC simulator, over OPC UA
        sim_ms, sim_base_ms = _sim_latency(Path(tmp) / "sim", sim_s)
        for q in (50, 99):
            section.measurements.append(
                Measurement(
                    f"latency p{q} from the CNC simulator, 3 channels over OPC UA",
                    _percentile(sim_ms, q),
                    "ms",
                    _percentile(sim_base_ms, q),
                    "block stored, same run",
                    higher_is_better=False,
                )
            )
        section.notes.append(
            f"CNC simulator: {len(sim_ms)} windows scored, from the end of the block in the "
            "simulator (its last sample's time, UTC) to the score committed: the simulator "
            "computing and sending the block, the OPC UA subscription (100 ms publishing "
            "interval), the connector, then the runtime as above; the baseline is the same "
            "block committed by the store sink in the same run"
        )
        # throughput on one CPU: the runtime alone, then the whole platform
        layout = _layout(N_WIDE * WIDE_CHANNELS)
        with _pinned() as cpu:
            alone = asyncio.run(
                _run(plant, layout, load_s, workers=1, realtime=False, keep_raw=False)
            )
            whole = asyncio.run(_run(plant, layout, load_s, workers=1, realtime=False))
            bare_rate = _bare_rfft_rate(plant)
        for what, r in (("runtime alone", alone), ("whole platform, raw blocks stored", whole)):
            section.measurements.append(
                Measurement(
                    f"channels scored in real time on one CPU ({what})",
                    _rate(r, layout),
                    "channels",
                    bare_rate,
                    "bare numpy.fft.rfft",
                    goal=f">= {THROUGHPUT_GOAL:g} channels",
                    goal_min=THROUGHPUT_GOAL,
                )
            )
            section.notes.append(f"one CPU, {what}: {_cpu_note(r, layout)}")

        # scaling: the runtime alone, 1 and 2 workers, interleaved; then as before
        def unpinned(workers: int, blas_pool: bool = False) -> _Run:
            return asyncio.run(
                _run(
                    plant,
                    layout,
                    load_s,
                    workers=workers,
                    realtime=False,
                    keep_raw=False,
                    blas_pool=blas_pool,
                )
            )

        runs: dict[int, list[_Run]] = {1: [], 2: []}
        for _ in range(repeat):
            for workers in (1, 2):
                runs[workers].append(unpinned(workers))
        best = {w: max(runs[w], key=lambda r: _rate(r, layout)) for w in runs}
        before = {w: unpinned(w, blas_pool=True) for w in (1, 2)}
        for name, pair, goal in (
            ("2 scoring workers vs 1 (channels in real time, runtime alone)", best, True),
            ("2 scoring workers vs 1, BLAS with its own threads (before)", before, False),
        ):
            section.measurements.append(
                Measurement(
                    name,
                    _rate(pair[2], layout),
                    "channels",
                    _rate(pair[1], layout),
                    "1 worker",
                    goal=f">= {SCALING_GOAL:g} x" if goal else "",
                    goal_ratio=SCALING_GOAL if goal else None,
                )
            )
        for w in (1, 2):
            section.notes.append(
                f"{w} worker(s), BLAS with its own threads (before): "
                f"{_rate(before[w], layout):.0f} channels; {_cpu_note(before[w], layout)}"
            )
        for w in (1, 2):
            rates = ", ".join(f"{_rate(r, layout):.0f}" for r in runs[w])
            section.notes.append(
                f"{w} worker(s), runs {rates} channels; the best: {_cpu_note(best[w], layout)}"
            )
        gil = _gil(plant, gil_windows)
        section.measurements.append(
            Measurement(
                "GIL held by a scoring thread: probe wake-ups over 2 ms late",
                gil.late_scoring * 100,
                "%",
                gil.late_python * 100,
                "beside a pure-Python thread",
                higher_is_better=False,
            )
        )
        blocked = (
            f"; two scoring threads at once spend {gil.blocked_scoring:.0%} of their time "
            "blocked (neither running nor waiting for a core: the GIL or any other lock), "
            f"two pure-Python threads {gil.blocked_python:.0%}"
            if gil.blocked_scoring is not None
            else ""
        )
        section.notes.append(
            "GIL probe: a thread sleeping 1 ms again and again wakes over 2 ms late "
            f"{gil.late_scoring:.0%} of the time beside a scoring thread (cutting windows, "
            "features, model, calibration, records of one 10-channel asset), "
            f"{gil.late_python:.0%} beside a pure-Python loop and {gil.late_idle:.0%} beside "
            f"nothing{blocked}"
        )
        one = best[1].use
        scoring = one.get("scoring workers", _Use()).running_s
        total = sum(u.running_s for u in one.values())
        if total > 0:
            section.notes.append(
                f"In the best 1-worker run the scoring worker took {scoring / total:.0%} of "
                "the process's CPU and the rest (the store writer, the event loop, native "
                f"threads: DuckDB's, BLAS's) {1 - scoring / total:.0%}; the process "
                f"kept {total / best[1].wall_s:.2f} of {_cores()} cores busy, which bounds "
                "what a second worker can add"
            )
        section.notes.append(
            "one CPU: every thread of the process pinned to CPU "
            + (f"{cpu}" if cpu is not None else "none (no sched_setaffinity here)")
            + " with os.sched_setaffinity"
        )
    return section


if __name__ == "__main__":
    for m in run().measurements:
        print(f"{m.name}: {m.ours:.3g} {m.unit} (baseline {m.baseline})")
