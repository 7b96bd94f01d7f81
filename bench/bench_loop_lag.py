"""Benchmark of the event loop's lag while live pipelines score vibration data.

Run alone from the repository root::

    .venv/bin/python -m bench.bench_loop_lag

Data: one accelerometer of 10 channels at 25.6 kHz, published on an in-memory bus as
100 ms blocks in real time (10 blocks a second), scored by a live
:class:`~shopfloor.pipelines.PipelineService` on 1 s windows (time-domain and spectral
features of every channel, a robust scaler and a z-score model fitted beforehand). A probe
task sleeps 5 ms again and again and records how late it wakes: that lateness is what an
OPC UA keep-alive or an API request waits on the loop.

Three runs of the same length, interleaved in one process:

* **ours**: the service as shipped, computing in its worker thread;
* **inline**: the same service computing on the event loop (what it did before), for the
  record;
* **baseline**: the same publisher and probe with no pipeline (the loop's own jitter on
  this machine).

Goal: p99 lag at most 20 ms while the pipeline scores.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from bench.harness import Measurement, Section
from shopfloor.bus import MemoryBus
from shopfloor.model import Asset, Provenance, Signal, SignalRef, WaveformBlock, topic_for
from shopfloor.pipelines import Pipeline, PipelineConfig, PipelineService, build_outputs
from shopfloor.pipelines.frames import FeatureFrame

ASSET = "acme/plant1/machining/line1/cell1/bench-01"
FS_HZ = 25600.0
N_CHANNELS = 10
BLOCK_S = 0.1
RUN_S = float(os.environ.get("SHOPFLOOR_BENCH_LAG_S", "8"))
PROBE_S = 0.005
T0_NS = 1_700_000_000 * 10**9

T = TypeVar("T")

BEARING = {"n_elements": 9, "element_diameter_mm": 7.94, "pitch_diameter_mm": 39.04}
FEATURES = {"bearing": BEARING, "nominal_shaft_hz": 29.95}
"""The whole catalogue: time domain, spectra, ISO velocity, fast-kurtogram envelope, bearing
defect amplitudes at the shaft speed estimated from each window."""


def _asset() -> Asset:
    return Asset(
        path=ASSET,
        signals=[
            Signal(
                name="accel",
                kind="waveform",
                unit="g",
                sample_rate_hz=FS_HZ,
                channels=[f"c{i}" for i in range(N_CHANNELS)],
            )
        ],
    )


def _config() -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "name": "lag",
            "asset": ASSET,
            "sources": ["accel"],
            "window": {"length_s": 1.0},
            "steps": [
                {"features": FEATURES},
                {"scaler": {"method": "robust"}},
                {"model": {"type": "zscore"}},
            ],
            "outputs": [{"store": {"prefix": "health."}}],
        }
    )


def _block(rng: np.random.Generator, i: int) -> WaveformBlock:
    n = round(BLOCK_S * FS_HZ)
    t = (i * n + np.arange(n)) / FS_HZ
    tone = np.sin(2 * np.pi * 160.0 * t)[:, None] * np.linspace(0.5, 1.5, N_CHANNELS)
    data = tone + 0.1 * rng.standard_normal((n, N_CHANNELS))
    return WaveformBlock(
        SignalRef(ASSET, "accel"),
        T0_NS + round(i * BLOCK_S * 1e9),
        FS_HZ,
        data,
        "g",
        Provenance("bench"),
    )


def _fitted_pipeline() -> Pipeline:
    pipeline = Pipeline(_config(), _asset())
    rng = np.random.default_rng(1)
    run = pipeline.start()
    windows = run.push([_block(rng, i) for i in range(60)])
    assert windows is not None
    data: Any = pipeline.transform(windows, until=1)
    for step in pipeline.steps[1:]:
        step.fit(data)
        data = step.transform(data)
    return pipeline


class _InlineService(PipelineService):
    """The service computing on the event loop, as it did before."""

    async def _compute(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)


async def _measure(kind: str) -> tuple[list[float], int]:
    """Lag samples (ms) of the probe over ``RUN_S`` of real-time data; windows scored."""
    bus = MemoryBus(default_maxsize=100_000)

    async def register(asset_path: str, signals: object) -> None:
        pass

    async def dead(letters: object) -> None:
        raise RuntimeError(f"dead letters from the pipeline: {letters}")

    service: PipelineService | None = None
    if kind != "baseline":
        pipeline = _fitted_pipeline()
        config = pipeline.config
        plan = build_outputs(config.name, ASSET, list(config.outputs), pipeline.output_columns())
        cls = _InlineService if kind == "inline" else PipelineService
        service = cls(pipeline, plan, bus, register=register, dead_letters=dead, batch_size=16)
        await service.start()
    sink = await bus.subscribe(f"shopfloor/v1/{ASSET}/+", name="sink", maxsize=100_000)
    rng = np.random.default_rng(2)
    blocks = [_block(rng, i) for i in range(round(RUN_S / BLOCK_S))]
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(PROBE_S)
            lags.append(max(0.0, (time.perf_counter() - t - PROBE_S) * 1e3))

    async def drain() -> None:
        while not stop.is_set():
            for delivery in await sink.get_batch(1024, 0.05):
                delivery.ack()

    tasks = [asyncio.create_task(probe()), asyncio.create_task(drain())]
    start = time.perf_counter()
    for i, block in enumerate(blocks):
        delay = start + (i + 1) * BLOCK_S - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await bus.publish(topic_for(block.signal), block)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    windows = 0
    if service is not None:
        await service.stop()
        windows = int(service.health()["windows"])
        if service.errors:
            raise RuntimeError(f"pipeline failed: {service.last_error}")
    await bus.close()
    return lags, windows


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _pct_time(values: list[float], q: float) -> float:
    """Percentile of the lag over time: each wake-up weighted by how long it covered.

    A stall of 100 ms is one late wake-up of the probe but 100 ms during which every
    keep-alive or request waits: weighting by the interval counts it as such.
    """
    if not values:
        return float("nan")
    lags = np.asarray(values)
    order = np.argsort(lags)
    weights = (lags + PROBE_S * 1e3)[order]
    cumulative = np.cumsum(weights) / weights.sum()
    return float(lags[order][np.searchsorted(cumulative, q / 100.0)])


def _cost_per_window_ms() -> float:
    pipeline = _fitted_pipeline()
    rng = np.random.default_rng(3)
    run = pipeline.start()
    windows = run.push([_block(rng, i) for i in range(50)])
    assert windows is not None
    t = time.perf_counter()
    frame: FeatureFrame = pipeline.transform(windows)
    return (time.perf_counter() - t) * 1e3 / len(frame)


def run() -> Section:
    """Measure the loop's lag: threaded pipeline, inline pipeline, no pipeline."""
    results: dict[str, tuple[list[float], int]] = {}
    for kind in ("baseline", "ours", "inline"):
        results[kind] = asyncio.run(_measure(kind))
    base, _ = results["baseline"]
    ours, windows = results["ours"]
    inline, windows_inline = results["inline"]
    cost_ms = _cost_per_window_ms()
    section = Section(
        title="Event-loop lag while pipelines score (shopfloor.pipelines)",
        description=(
            f"A live pipeline scores one {N_CHANNELS}-channel accelerometer at "
            f"{FS_HZ / 1000:g} kHz in real time ({RUN_S:g} s, 1 s windows: every feature of "
            "the catalogue on every channel, robust scaler, z-score model). A probe "
            f"sleeping {PROBE_S * 1e3:g} ms records how late the loop wakes it. Baseline: the "
            "same publisher and probe without a pipeline."
        ),
    )
    section.measurements += [
        Measurement(
            "loop lag p50",
            statistics.median(ours),
            "ms",
            statistics.median(base),
            "no pipeline",
            higher_is_better=False,
        ),
        Measurement(
            "loop lag p99 (per wake-up)",
            _pct(ours, 99),
            "ms",
            _pct(base, 99),
            "no pipeline",
            higher_is_better=False,
            goal="<= 20 ms",
            goal_max=20.0,
        ),
        Measurement(
            "loop lag p99 (over time)",
            _pct_time(ours, 99),
            "ms",
            _pct_time(base, 99),
            "no pipeline",
            higher_is_better=False,
            goal="<= 20 ms",
            goal_max=20.0,
        ),
        Measurement(
            "loop lag max",
            max(ours),
            "ms",
            max(base),
            "no pipeline",
            higher_is_better=False,
        ),
        Measurement(
            "loop lag p99 (per wake-up), computing on the loop (before)",
            _pct(inline, 99),
            "ms",
            _pct(base, 99),
            "no pipeline",
            higher_is_better=False,
        ),
        Measurement(
            "loop lag p99 (over time), computing on the loop (before)",
            _pct_time(inline, 99),
            "ms",
            _pct_time(base, 99),
            "no pipeline",
            higher_is_better=False,
        ),
        Measurement(
            "loop lag max, computing on the loop (before)",
            max(inline),
            "ms",
            max(base),
            "no pipeline",
            higher_is_better=False,
        ),
        Measurement("compute per 1 s window", cost_ms, "ms", higher_is_better=False),
    ]
    section.notes += [
        f"windows scored: {windows} (worker thread), {windows_inline} (on the loop)",
        "The compute runs in one worker thread per pipeline; the records it makes are "
        "published on the loop in slices. Measured alone: scipy.fft, scipy.signal filters "
        "and numpy's sorts release the GIL (the loop waits at most the 5 ms switch "
        "interval); numpy.fft holds it for each call (about 4 ms for 10 x 25,600 "
        "samples), which is why shopfloor.features uses scipy.fft. A process pool would "
        "also free the loop from the Python-level share of the work, but must carry each "
        "run's streaming state and the windows across processes; with the goal met by a "
        "thread, it is not used.",
        "Per wake-up: percentiles of the probe's lateness. Over time: each wake-up "
        "weighted by the time it covered, i.e. the lag a keep-alive arriving at a random "
        "moment meets (a 100 ms stall is one wake-up but 100 ms of waiting).",
        "The shared machine's other load shows in the baseline; compare the ratios.",
    ]
    return section


if __name__ == "__main__":
    for m in run().measurements:
        print(f"{m.name}: {m.ours:.3g} {m.unit} (baseline {m.baseline})")
