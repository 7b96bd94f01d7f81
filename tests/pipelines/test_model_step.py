"""The pipeline's model step: a robust z-score, and no pickled estimators."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from shopfloor.errors import PipelineConfigError, PipelineError
from shopfloor.pipelines.frames import FeatureFrame
from shopfloor.pipelines.params import ModelParams
from shopfloor.pipelines.steps import ModelStep


def frame(values: np.ndarray) -> FeatureFrame:
    t0 = np.arange(len(values), dtype=np.int64) * 10**9
    return FeatureFrame(t0, t0 + 10**9, {"rms": values.astype(np.float64)}, {"rms": "1"})


def test_an_outlier_heavy_baseline_does_not_inflate_the_scale() -> None:
    rng = np.random.default_rng(0)
    baseline = rng.normal(size=500)
    baseline[:50] = 1e3  # 10 % wild windows: their standard deviation would be ~300
    step = ModelStep({"type": "zscore"})
    step.fit(frame(baseline))
    score = step.transform(frame(np.array([0.0, 6.0]))).columns["anomaly_score"]
    # median / MAD: a 6σ window of the healthy bulk still scores about 6 (not 0.02)
    assert score[0] < 0.5
    assert 4.0 < score[1] < 8.0


def test_the_robust_scaler_upstream_is_not_undone() -> None:
    # robust-scaled columns have median 0 and MAD-scale ~1: the step keeps that scale
    rng = np.random.default_rng(1)
    scaled = np.r_[rng.normal(size=900), rng.normal(40.0, 1.0, size=100)]
    step = ModelStep({"type": "zscore"})
    step.fit(frame(scaled))
    assert step.transform(frame(np.array([5.0]))).columns["anomaly_score"][0] > 4.0


def test_state_is_plain_json_and_round_trips() -> None:
    step = ModelStep({"type": "zscore"})
    step.fit(frame(np.arange(10.0)))
    state = step.get_state()
    assert set(state["zscore"]) == {"center", "scale"}
    again = ModelStep({"type": "zscore"})
    again.set_state(state)
    test = frame(np.array([3.0, 30.0, np.nan]))
    np.testing.assert_array_equal(
        again.transform(test).columns["anomaly_score"],
        step.transform(test).columns["anomaly_score"],
    )


def test_a_state_fitted_before_keeps_scoring_as_fitted() -> None:
    step = ModelStep({"type": "zscore"})
    step.set_state({"columns": ["rms"], "zscore": {"mean": [1.0], "std": [2.0]}})
    assert step.transform(frame(np.array([5.0]))).columns["anomaly_score"][0] == 2.0


def test_a_pickled_state_is_never_loaded() -> None:
    step = ModelStep({"type": "zscore"})
    with pytest.raises(PipelineError, match="never"):
        step.set_state({"columns": ["rms"], "pickle": "gASVAAAAAAAAAAA="})


def test_isolation_forest_points_to_the_models_section() -> None:
    with pytest.raises(PipelineConfigError, match="models: section"):
        ModelStep({"type": "isolation_forest"})
    with pytest.raises(ValidationError, match="models: section"):
        ModelParams.model_validate({"type": "isolation_forest"})
