"""Feature contributions (own and default) and band spectra for the reports."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import shopfloor.ml.explain as explain_module
from shopfloor.errors import ModelError
from shopfloor.ml.base import build_model
from shopfloor.ml.explain import band_spectra, feature_contributions, top_windows

NAMES = ["rms.x", "kurtosis.x", "crest_factor.x"]


def test_examples_run() -> None:
    result = doctest.testmod(explain_module)
    assert result.attempted > 0 and result.failed == 0


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, size=(440, 1))  # bounded: no healthy window far out
    x = np.hstack([t, rng.uniform(-1, 1, size=(440, 1)), t + rng.uniform(-0.1, 0.1, (440, 1))])
    x[400:, 1] += 5.0  # kurtosis departs in the last 40 windows
    return x[:400], x[200:]


@pytest.mark.parametrize(
    ("model_type", "params"),
    [
        ("robust_zscore", {}),
        ("pca", {"n_components": 1}),
        ("pca", {"n_components": 1, "statistic": "both"}),
        ("isolation_forest", {"random_state": 0, "n_estimators": 20}),
        ("gmm", {"random_state": 0}),
    ],
)
def test_the_departing_feature_gets_the_largest_share(model_type: str, params: dict) -> None:
    healthy, x = data()
    model = build_model(model_type, params)
    model.fit(healthy, feature_names=NAMES)  # type: ignore[call-arg]
    shares = feature_contributions(model, x, baseline=healthy)  # type: ignore[arg-type]
    assert set(shares) == set(NAMES)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=shares.__getitem__) == "kurtosis.x"


def test_default_contributions_need_the_baseline() -> None:
    healthy, x = data()
    model = build_model("gmm", {"random_state": 0})
    model.fit(healthy, feature_names=NAMES)  # type: ignore[call-arg]
    with pytest.raises(ModelError, match="baseline"):
        feature_contributions(model, x)  # type: ignore[arg-type]


def test_top_windows() -> None:
    assert top_windows([0.1, np.nan, 5.0, 3.0], 0.5).tolist() == [2, 3]
    assert top_windows([np.nan, np.nan]).tolist() == []
    assert top_windows([1.0, 2.0], 0.01).tolist() == [1]


def test_band_spectra_from_band_power_features() -> None:
    names = ["rms.x", "band_power_hz.0-100.x", "band_power_hz.100-300.x", "band_power_hz.0-100.y"]
    units = dict.fromkeys(names, "g^2")
    normal = np.ones((5, 4))
    loud = np.ones((3, 4)) * [1.0, 1.0, 9.0, 1.0]
    s = band_spectra(names, units, normal, loud)
    assert s is not None
    assert s.freqs_hz.tolist() == [50.0, 200.0]
    assert s.anomalous.tolist() == [1.0, 9.0] and s.unit == "g^2"
    assert band_spectra(["rms.x", "band_power_hz.0-100.x"], units, normal, loud) is None
