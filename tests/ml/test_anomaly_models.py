"""Behaviour of each anomaly model type beyond the shared contract (test_model_contract)."""

from __future__ import annotations

import numpy as np
import pytest

from shopfloor.errors import ModelError
from shopfloor.ml.base import Artifact, build_model, load_model
from shopfloor.ml.models import IsolationForestModel, PCAModel, RobustZScore

RNG = np.random.default_rng(7)


def baseline(n: int = 300) -> np.ndarray:
    t = RNG.normal(size=(n, 1))
    return np.hstack([t, 2 * t + 0.1 * RNG.normal(size=(n, 1)), RNG.normal(size=(n, 1))])


def test_robust_zscore_ignores_outliers_in_the_baseline() -> None:
    x = RNG.normal(size=(1000, 1))
    x[:100] = 1e6  # 10 % wild values: a standard deviation would be ~3e5
    model = RobustZScore().fit(x)
    assert model.score(np.array([[5.0]]))[0] > 4.0


def test_robust_zscore_unknown_regime_is_nan_not_healthy() -> None:
    x = np.vstack([RNG.normal(0, 1, (100, 2)), RNG.normal(10, 1, (100, 2))])
    regime = ["slow"] * 100 + ["fast"] * 100
    model = RobustZScore().fit(x, regime=regime)
    score = model.score(
        np.array([[10.0, 10.0], [10.0, 10.0], [0.0, 0.0]]), regime=["fast", "slow", "idle"]
    )
    assert score[0] < 3 and score[1] > 5 and np.isnan(score[2])


def test_robust_zscore_rms_aggregate_and_partial_nan() -> None:
    model = RobustZScore(aggregate="rms").fit(RNG.normal(size=(200, 2)))
    score = model.score(np.array([[np.nan, np.nan], [np.nan, 3.0], [3.0, 3.0]]))
    assert np.isnan(score[0]) and score[1] == pytest.approx(score[2], rel=0.3)


@pytest.mark.parametrize("statistic", ["spe", "t2", "both"])
def test_pca_statistics(statistic: str) -> None:
    model = PCAModel(n_components=1, statistic=statistic).fit(baseline()[:, :2])
    centre, along, across = model.score(np.array([[0.0, 0.0], [3.0, 6.0], [3.0, -6.0]]))
    if statistic == "t2":  # distance inside the model plane: far along the correlation
        assert along > 5 * centre and along > across
    else:  # the reconstruction error sees a broken correlation
        assert across > 5 * along


def test_pca_refuses_bad_parameters() -> None:
    with pytest.raises(ModelError, match="n_components"):
        build_model("pca", {"n_components": 1.5})
    with pytest.raises(ModelError, match="statistic"):
        build_model("pca", {"statistic": "q"})


def test_isolation_forest_scores_outliers_higher_and_reloads_bit_identical() -> None:
    x = baseline()
    model = IsolationForestModel(n_estimators=30).fit(x, feature_names=["a", "b", "c"])
    test = np.vstack([x[:20], [[6.0, -6.0, 6.0]], [[np.nan, np.nan, np.nan]]])
    score = model.score(test)
    assert score[20] > np.nanmax(score[:20]) and np.isnan(score[21])
    artifact = Artifact.from_bytes(model.to_artifact().to_bytes())
    assert artifact.format == "onnx"
    reloaded = load_model(artifact)
    assert isinstance(reloaded, IsolationForestModel)
    np.testing.assert_array_equal(reloaded.score(test), score)


def test_isolation_forest_rejects_a_corrupt_onnx_payload() -> None:
    artifact = IsolationForestModel(n_estimators=5).fit(baseline(50)).to_artifact()
    bad = Artifact(artifact.model_type, artifact.params, "onnx", b"not onnx", artifact.meta)
    with pytest.raises(ModelError, match="not a valid ONNX"):
        load_model(bad)


def test_load_model_refuses_incomplete_metadata() -> None:
    artifact = RobustZScore().fit(baseline(50)).to_artifact()
    bad = Artifact(artifact.model_type, artifact.params, "npz", artifact.payload, {})
    with pytest.raises(ModelError, match="malformed"):
        load_model(bad)
