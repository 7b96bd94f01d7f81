"""The physics-informed bearing fault classifier (model type ``bearing_defect``)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import shopfloor.ml.models.bearing_defect as bearing_defect
from shopfloor.errors import ModelError, NotFittedError
from shopfloor.ml.base import MODEL_TYPES, Artifact, build_model, load_model
from shopfloor.ml.models.bearing_defect import (
    BearingDefectClassifier,
    bearing_defect_feature_names,
    bearing_defect_features,
)
from shopfloor.model import BearingGeometry

FS = 12000.0
BEARING_A = BearingGeometry(n_elements=9, element_diameter_mm=7.94, pitch_diameter_mm=39.04)
BEARING_B = BearingGeometry(n_elements=12, element_diameter_mm=6.0, pitch_diameter_mm=40.0)
ORDER = {
    "outer_race": "bpfo_order",
    "inner_race": "bpfi_order",
    "ball": "bsf_order",
}


def simulated_windows(
    fault: str,
    bearing: BearingGeometry,
    rpm: float,
    *,
    n_windows: int = 4,
    impact_g: float = 1.0,
    resonance_hz: float = 3000.0,
    seed: int = 0,
) -> np.ndarray:
    """1 s windows: defect impacts ringing a resonance, a shaft tone and noise.

    As the product's simulator does: one impact per element pass, with slip jitter, each
    ringing a damped resonance; an inner-race defect is modulated by the shaft angle (it
    turns through the load zone), a ball by the cage angle. ``none`` has no impacts.
    """
    rng = np.random.default_rng(seed)
    n = int(FS)
    total = n * n_windows
    t = np.arange(total) / FS
    shaft_hz = rpm / 60.0
    x = 0.3 * np.sin(2 * np.pi * shaft_hz * t) + 0.05 * rng.normal(size=total)
    if fault != "none":
        rate = getattr(bearing, ORDER[fault]) * shaft_hz
        times = np.arange(0.0, t[-1], 1.0 / rate)
        times = times + rng.normal(0, 0.01 / rate, times.size)
        amp = np.full(times.size, impact_g)
        if fault == "inner_race":
            amp *= 0.55 + 0.45 * (1 + np.cos(2 * np.pi * shaft_hz * times)) / 2
        if fault == "ball":
            amp *= 0.55 + 0.45 * (1 + np.cos(2 * np.pi * bearing.ftf_order * shaft_hz * times)) / 2
        impulses = np.zeros(total)
        idx = np.clip(np.round(times * FS).astype(int), 0, total - 1)
        np.add.at(impulses, idx, amp)
        tau = np.arange(int(0.005 * FS)) / FS
        ring = np.exp(-2 * np.pi * 0.05 * resonance_hz * tau) * np.sin(
            2 * np.pi * resonance_hz * tau
        )
        x += np.convolve(impulses, ring)[:total]
    return x.reshape(n_windows, n)


def features_of(faults, bearing, rpm, seed, **kwargs):
    rows, labels = [], []
    for i, fault in enumerate(faults):
        w = simulated_windows(fault, bearing, rpm, seed=seed + i, **kwargs)
        f, _ = bearing_defect_features(w, FS, rpm / 60.0, bearing)
        rows.append(f)
        labels += [fault] * f.shape[0]
    return np.concatenate(rows), labels


FAULTS = ("outer_race", "inner_race", "ball")


@pytest.fixture(scope="module")
def training():
    return features_of(FAULTS, BEARING_A, 1797.0, seed=0)


@pytest.fixture(scope="module")
def fitted(training):
    x, y = training
    return BearingDefectClassifier().fit(x, y, feature_names=bearing_defect_feature_names())


def test_registered_and_built_by_name():
    assert MODEL_TYPES["bearing_defect"] is BearingDefectClassifier
    model = build_model("bearing_defect", {"c": 0.5})
    assert isinstance(model, BearingDefectClassifier) and model.c == 0.5


def test_examples_run():
    result = doctest.testmod(bearing_defect, extraglobs={"np": np})
    assert result.attempted > 0 and result.failed == 0


def test_the_right_defect_line_stands_out():
    names = bearing_defect_feature_names()
    for fault, defect in (("outer_race", "bpfo"), ("inner_race", "bpfi"), ("ball", "bsf")):
        f, got = bearing_defect_features(
            simulated_windows(fault, BEARING_A, 1750.0), FS, 1750 / 60, BEARING_A
        )
        assert got == names and f.shape == (4, len(names)) and np.isfinite(f).all()
        own = f[:, names.index(f"wide.{defect}.h1")].mean()
        others = [f[:, names.index(f"wide.{d}.h1")].mean() for d in ("bpfo", "bpfi", "bsf")]
        assert own == max(others) and own > np.log10(3.0)


def test_carries_over_to_another_bearing_speed_and_fault_size(fitted):
    x, y = features_of(FAULTS, BEARING_B, 1200.0, seed=50, impact_g=3.0, resonance_hz=4200.0)
    predicted = fitted.predict(x, feature_names=bearing_defect_feature_names())
    accuracy = np.mean([p == t for p, t in zip(predicted, y, strict=True)])
    assert accuracy >= 0.9


def test_probabilities_sum_to_one(fitted, training):
    proba = fitted.predict_proba(training[0])
    assert proba.shape == (len(training[1]), 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert fitted.classes_ == sorted(FAULTS)


def test_save_load_gives_identical_probabilities(fitted, training):
    blob = fitted.to_artifact().to_bytes()
    reloaded = load_model(Artifact.from_bytes(blob))
    assert isinstance(reloaded, BearingDefectClassifier)
    assert reloaded.classes_ == fitted.classes_
    assert reloaded.feature_names_in_ == fitted.feature_names_in_
    np.testing.assert_array_equal(
        reloaded.predict_proba(training[0]), fitted.predict_proba(training[0])
    )
    assert Artifact.from_bytes(blob).format == "onnx"


def test_a_corrupt_payload_is_refused_on_load(fitted):
    artifact = fitted.to_artifact()
    broken = Artifact(
        artifact.model_type, artifact.params, "onnx", b"not onnx", dict(artifact.meta)
    )
    with pytest.raises(ModelError, match="ONNX"):
        load_model(broken)


def test_clone_is_unfitted_with_same_params(fitted, training):
    clone = fitted.clone()
    assert clone.get_params() == fitted.get_params() and not clone.fitted
    with pytest.raises(NotFittedError):
        clone.predict_proba(training[0])
    refit = clone.fit(training[0], training[1], feature_names=bearing_defect_feature_names())
    np.testing.assert_array_equal(
        refit.predict_proba(training[0]), fitted.predict_proba(training[0])
    )


def test_input_is_left_untouched(training):
    x = training[0].copy()
    BearingDefectClassifier().fit(x, training[1]).predict_proba(x)
    np.testing.assert_array_equal(x, training[0])


def test_bad_input_is_refused(fitted, training):
    x, y = training
    with pytest.raises(ModelError, match="feature"):
        fitted.predict_proba(x, feature_names=[f"f{i}" for i in range(x.shape[1])])
    bad = x.copy()
    bad[0, :] = np.nan
    assert np.isfinite(fitted.predict_proba(bad)).all()
    with pytest.raises(ModelError, match="two classes"):
        BearingDefectClassifier().fit(x, ["a"] * len(y))
    with pytest.raises(ModelError, match="labels"):
        BearingDefectClassifier().fit(x, y[:-1])
    with pytest.raises(ModelError, match="c must be"):
        BearingDefectClassifier(c=-1.0).fit(x, y)
    with pytest.raises(ModelError, match="shaft_hz"):
        bearing_defect_features(np.zeros((2, 12000)), FS, 0.0, BEARING_A)
    with pytest.raises(ModelError, match="too low"):
        bearing_defect_features(np.zeros((2, 1000)), 1000.0, 30.0, BEARING_A)
    with pytest.raises(ModelError, match="NaN"):
        bearing_defect_features(np.full((2, 12000), np.nan), FS, 30.0, BEARING_A)
