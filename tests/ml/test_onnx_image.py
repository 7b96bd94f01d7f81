"""``onnx_image``: a user's ONNX file, checked against its preprocessing and classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopfloor.errors import ModelError
from shopfloor.ml.base import Artifact, load_model
from shopfloor.ml.models.onnx_image import (
    EXAMPLE_WEIGHTS,
    OnnxImageClassifier,
    _softmax,
    fit_temperature,
    linear_onnx,
)

SMALL = {"size": [8, 8]}


def test_the_shipped_example_is_the_generator_output() -> None:
    assert EXAMPLE_WEIGHTS.read_bytes() == linear_onnx((24, 24, 1), 3, seed=0)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "net.onnx"
    path.write_bytes(linear_onnx((8, 8, 1), 2, seed=1))
    return path


def images(n: int = 10) -> np.ndarray:
    return np.random.default_rng(0).random((n, 8, 8, 1)).astype(np.float32)


def test_scores_and_survives_without_the_file(weights: Path) -> None:
    model = OnnxImageClassifier(weights=str(weights), classes=["ok", "nok"], preprocess=SMALL)
    model.fit(images(), ["ok", "nok"] * 5)
    loaded = load_model(Artifact.from_bytes(model.to_artifact().to_bytes()))
    weights.unlink()
    np.testing.assert_array_equal(loaded.predict_proba(images()), model.predict_proba(images()))  # type: ignore[attr-defined]


def test_nhwc_and_probability_outputs(tmp_path: Path) -> None:
    path = tmp_path / "nhwc.onnx"
    path.write_bytes(linear_onnx((8, 8, 1), 2, seed=1, layout="nhwc"))
    model = OnnxImageClassifier(
        weights=str(path), classes=["a", "b"], preprocess=SMALL, layout="nhwc", calibrate=False
    )
    proba = model.fit(images(), ["a", "b"] * 5).predict_proba(images())
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.temperature_ == 1.0


@pytest.mark.parametrize(
    ("with_weights", "classes", "size", "message"),
    [
        (False, ["ok", "nok"], [8, 8], "give the ONNX file and its classes"),
        (True, ["ok", "nok", "x"], [8, 8], r"expected one score per class \(3"),
        (True, ["ok", "nok"], [8, 9], "does not take nchw images"),
    ],
)
def test_a_graph_that_does_not_fit_is_refused(
    weights: Path, with_weights: bool, classes: list[str], size: list[int], message: str
) -> None:
    model = OnnxImageClassifier(
        weights=str(weights) if with_weights else None,
        classes=classes,
        preprocess={"size": size},
    )
    x = np.zeros((4, *model.preprocess_spec.shape), np.float32)
    with pytest.raises(ModelError, match=message):
        model.fit(x, ["ok", "nok"] * 2)


def test_labels_outside_the_classes_are_refused(weights: Path) -> None:
    model = OnnxImageClassifier(weights=str(weights), classes=["ok", "nok"], preprocess=SMALL)
    with pytest.raises(ModelError, match=r"labels \['scratch'\] are not among"):
        model.fit(images(4), ["ok", "scratch", "ok", "nok"])
    with pytest.raises(ModelError, match="cannot read weights"):
        OnnxImageClassifier(weights="/nonexistent.onnx", classes=["a", "b"], preprocess=SMALL).fit(
            images(2), ["a", "b"]
        )


def test_temperature_undoes_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (4000, 3))
    codes = np.array([rng.choice(3, p=p) for p in _softmax(logits)])
    assert fit_temperature(logits * 4.0, codes) == pytest.approx(4.0, rel=0.15)
    assert fit_temperature(logits, codes) == pytest.approx(1.0, rel=0.15)
