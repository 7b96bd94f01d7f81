"""Benchmark of training an anomaly model on stored history (``shopfloor train``).

Run alone from the repository root::

    .venv/bin/python -m bench.bench_training

Data: one hour of one 25.6 kHz accelerometer channel (shaft harmonics, a bearing's light
impacts ringing a 3 kHz resonance, noise) in 1 s blocks, and the spindle speed at 1 Hz, in
an embedded store written before the clock starts. The pipeline cuts 1 s windows and
computes the example project's features (RMS, kurtosis, crest factor, ISO velocity RMS,
envelope SNR at BPFO, BPFI and BSF with the kurtogram band): 3,600 windows.

Timed, each through the service ``shopfloor train`` runs:

* **features**: :func:`~shopfloor.ml.dataset.build_dataset` (read the hour from the store,
  cut the windows, compute the features);
* **fit**: the model's ``fit`` alone on that dataset's features;
* **train**: the whole of :func:`~shopfloor.services.models.train_model` (the same dataset,
  then fit, calibrate the thresholds on held-back windows, write the report, register a
  version with its card);
* **baseline**: reading the same hour from the store and a bare ``numpy.fft.rfft`` of each
  window (what any feature extraction must at least do).

Goal (the issue's): training, features included, under 30 s on this machine.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.harness import Measurement, Section
from shopfloor.config import load_project
from shopfloor.model import (
    NS_PER_S,
    Provenance,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
    to_ns,
)
from shopfloor.store import DuckDBStore

ASSET = "acme/plant1/machining/line1/cell1/bench-01"
FS_HZ = 25600
SECONDS = 3600
RPM = 9000.0
START_NS = to_ns("2026-01-05T06:00:00Z")
GOAL_S = 30.0

PROJECT = f"""
project: {{name: bench-training}}
assets:
  - path: {ASSET}
    bearing: {{n_elements: 9, element_diameter_mm: 7.94, pitch_diameter_mm: 39.04}}
    signals:
      - {{name: spindle_accel, kind: waveform, unit: g, sample_rate_hz: {FS_HZ}}}
      - {{name: spindle_speed, unit: rpm}}
pipelines:
  - name: spindle-health
    asset: {ASSET}
    sources: [spindle_accel]
    context: [spindle_speed]
    window: {{length_s: 1.0}}
    steps:
      - features:
          features: [rms, kurtosis, crest_factor, velocity_rms, envelope.bpfo.snr,
                     envelope.bpfi.snr, envelope.bsf.snr]
          speed: spindle_speed
          envelope_min_bandwidth_hz: 6000
"""


def _signal(rng: np.random.Generator) -> np.ndarray:
    """One hour of a healthy spindle, second by second (float32 to spare memory)."""
    t = np.arange(FS_HZ) / FS_HZ
    shaft_hz = RPM / 60.0
    ring = np.exp(-800 * t[:512]) * np.sin(2 * np.pi * 3000 * t[:512])
    impacts = np.zeros(FS_HZ)
    impacts[:: FS_HZ // 107] = 0.05
    base = np.convolve(impacts, ring)[:FS_HZ]
    base += sum(0.3 / h * np.sin(2 * np.pi * h * shaft_hz * t) for h in (1, 2, 3))
    out = np.empty((SECONDS, FS_HZ), dtype=np.float32)
    for i in range(SECONDS):
        out[i] = base + 0.2 * rng.standard_normal(FS_HZ)
    return out


async def _fill(store_path: Path, project_dir: Path) -> None:
    project = load_project(project_dir)
    rng = np.random.default_rng(0)
    data = _signal(rng)
    accel, speed = SignalRef(ASSET, "spindle_accel"), SignalRef(ASSET, "spindle_speed")
    async with DuckDBStore(store_path) as store:
        for asset in project.config.assets:
            await store.register_signals(asset.path, asset.signals)
        for first in range(0, SECONDS, 60):
            blocks = [
                WaveformBlock(
                    accel,
                    START_NS + i * NS_PER_S,
                    float(FS_HZ),
                    data[i].astype(np.float64)[:, None],
                    "g",
                    Provenance("bench"),
                )
                for i in range(first, first + 60)
            ]
            ts = START_NS + np.arange(first, first + 60, dtype=np.int64) * NS_PER_S
            rpm = RPM + rng.normal(0, 5, 60)
            await store.write([*blocks, ScalarBatch.of(speed, ts, rpm, Provenance("bench"))])


async def _measure(project_dir: Path) -> dict[str, float]:
    from shopfloor.ml.dataset import build_dataset
    from shopfloor.node.pipelines import project_pipeline
    from shopfloor.services.models import train_model
    from shopfloor.services.options import TrainOptions
    from shopfloor.services.store import project_store

    project = load_project(project_dir)
    end_ns = START_NS + SECONDS * NS_PER_S
    pipeline, _ = project_pipeline(project, "spindle-health", load_fitted=False)
    out: dict[str, float] = {}

    started = time.perf_counter()
    async with project_store(project) as store:
        blocks = await store.read_waveforms(SignalRef(ASSET, "spindle_accel"), START_NS, end_ns)
        for block in blocks:
            np.fft.rfft(block.data, axis=0)
    out["baseline"] = time.perf_counter() - started
    out["windows_read"] = float(len(blocks))
    del blocks

    started = time.perf_counter()
    async with project_store(project) as store:
        dataset = await build_dataset(store, pipeline, [(START_NS, end_ns)])
    out["features"] = time.perf_counter() - started
    out["windows"] = float(len(dataset))
    from shopfloor.ml.base import build_model

    for model in ("robust_zscore", "isolation_forest"):
        started = time.perf_counter()
        fitted = build_model(model, {}).fit(
            dataset.x, regime=dataset.regime, feature_names=dataset.feature_names
        )
        out[f"fit.{model}"] = time.perf_counter() - started
        del fitted

    for model in ("robust_zscore", "isolation_forest"):
        options = TrainOptions(
            name=f"bench-{model.replace('_', '-')}",
            pipeline="spindle-health",
            from_=_iso(START_NS),
            to=_iso(end_ns),
            model=model,
            labels="none",
        )
        started = time.perf_counter()
        await train_model(options, project, who="bench")
        out[f"train.{model}"] = time.perf_counter() - started
    return out


def _iso(ns: int) -> str:
    from shopfloor.model import format_ns

    return format_ns(ns)


def run() -> Section:
    """Measure training on one hour of one channel; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="shopfloor-bench-training-") as tmp:
        project_dir = Path(tmp)
        (project_dir / "factory.yaml").write_text(PROJECT)
        project = load_project(project_dir)
        asyncio.run(_fill(project.store_path, project_dir))
        t = asyncio.run(_measure(project_dir))
    section = Section(
        title="Training an anomaly model (shopfloor train)",
        description=(
            f"One hour of one {FS_HZ / 1000:g} kHz channel in the embedded store, "
            f"{t['windows']:,.0f} windows of 1 s, 7 features (time domain, ISO velocity, "
            "envelope SNR at three defect frequencies with the kurtogram band); each phase "
            "timed once through the training service."
        ),
    )
    for model in ("robust_zscore", "isolation_forest"):
        total = t[f"train.{model}"]
        section.measurements.append(
            Measurement(
                f"train {model}, features included",
                total,
                "s",
                baseline=t["baseline"],
                baseline_name="read the hour + bare rfft per window",
                higher_is_better=False,
                goal=f"under {GOAL_S:g} s here",
                goal_max=GOAL_S,
            )
        )
        section.notes.append(
            f"{model}: the fit alone {t[f'fit.{model}']:.2f} s on the hour's features; "
            f"features alone {t['features']:.1f} s; the whole service (reading, features, "
            f"split, fit, calibration, report, registration) {total:.1f} s."
        )
    section.measurements.append(
        Measurement(
            "features of the hour (build_dataset)",
            t["features"],
            "s",
            baseline=t["baseline"],
            baseline_name="read the hour + bare rfft per window",
            higher_is_better=False,
        )
    )
    return section


if __name__ == "__main__":
    from bench.bench_features import format_section

    print(format_section(run()))
