"""A regime missing from the baseline is unknown, never healthy; derived signals have units."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shopfloor.model import EventRecord
from shopfloor.pipelines import Pipeline, build_outputs, fit_pipeline
from shopfloor.store import DuckDBStore

from .test_pipeline import ASSET, T0, A, S, block, cfg, scalars

STEPS = [
    {"features": {"features": ["rms", "kurtosis"]}},
    {"scaler": {"by_regime": True}},
    {"model": {"type": "zscore"}},
]
OUTPUTS = [
    {"store": {"prefix": "health."}},
    {"alert": {"column": "anomaly_score", "above": 5.0}},
]


def _pipeline() -> Pipeline:
    return Pipeline(
        cfg(
            context=["speed"],
            regime={"signal": "speed", "edges": [0, 1000, 5000, 9000]},
            steps=STEPS,
            outputs=OUTPUTS,
        ),
        ASSET,
    )


def _records(seconds: int, speed: float, start: int = T0) -> list[Any]:
    rng = np.random.default_rng(seconds)
    out: list[Any] = [block(start + i * S, rng.normal(size=1000)) for i in range(seconds)]
    ts = start + np.arange(seconds * 10, dtype=np.int64) * 100_000_000
    out.append(scalars("speed", ts, np.full(ts.shape, speed)))
    return out


async def test_fit_lists_uncovered_regimes_and_unknown_regimes_score_nan(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = _pipeline()
    async with DuckDBStore(tmp_path / "s.duckdb") as store:
        await store.register_signals(A, ASSET.signals)
        await store.write(_records(30, 500.0))  # the baseline only ever runs below 1000 rpm
        with caplog.at_level(logging.WARNING):
            baseline = await fit_pipeline(store, pipeline, T0, T0 + 30 * S)
    assert baseline["regimes"] == {"0-1000": 30}
    assert baseline["uncovered_regimes"] == ["1000-5000", "5000-9000"]
    assert "1000-5000,5000-9000" in caplog.text


def test_a_regime_missing_from_the_baseline_scores_nan_and_its_alert_is_unknown() -> None:
    pipeline = _pipeline()
    windows = pipeline.start().push(_records(30, 500.0))  # baseline below 1000 rpm only
    assert windows is not None
    data: Any = pipeline.transform(windows, until=1)
    for step in pipeline.steps[1:]:
        step.fit(data)
        data = step.transform(data)
    run = pipeline.start()
    known = run.process(_records(5, 500.0, T0 + 100 * S))
    assert known is not None and np.isfinite(known.columns["anomaly_score"]).all()
    run = pipeline.start()
    later = _records(5, 3000.0, T0 + 200 * S)  # a speed the baseline never saw
    frame = run.process(later)
    assert frame is not None and len(frame) >= 3
    assert frame.regime[0] == "1000-5000"
    scores = frame.columns["anomaly_score"]
    assert all(math.isnan(v) for v in scores), scores  # not 0.0, "healthy"

    plan = build_outputs(pipeline.name, A, list(pipeline.config.outputs), pipeline.output_columns())
    stored, _ = plan.records(frame)
    events = [r for r in stored if isinstance(r, EventRecord)]
    assert [e.kind for e in events] == ["alert_unknown"]  # once, not once per window
    assert "1000-5000" in events[0].message
    assert plan.alerts[0].state == "unknown"
    stored, _ = plan.records(known)
    assert plan.alerts[0].state == "normal"


def test_derived_signals_have_units() -> None:
    pipeline = _pipeline()
    plan = build_outputs(pipeline.name, A, list(pipeline.config.outputs), pipeline.output_columns())
    units = {s.name: s.unit for s in plan.signals}
    assert units["health.anomaly_score"] == "1"
    assert units["health.rms"] == "1"  # scaled: dimensionless
    assert units["health.kurtosis"] == "1"
    raw = Pipeline(cfg(outputs=[{"store": {"prefix": "health."}}]), ASSET)
    plan = build_outputs(raw.name, A, list(raw.config.outputs), raw.output_columns())
    assert {s.name: s.unit for s in plan.signals} == {"health.rms": "g", "health.mean": "g"}
