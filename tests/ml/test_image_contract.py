"""The image model contract: the checks run over two minimal image types defined here.

The built-in image types run the same checks in ``test_model_contract.py``; these two
(the smallest types that keep the contract) show what a new type must do, and keep the
checks themselves honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pytest

from shopfloor.errors import ModelError, NotFittedError
from shopfloor.features.images import ImageBatch
from shopfloor.ml.base import (
    MODEL_TYPES,
    UNCERTAIN,
    Artifact,
    ImageAnomalyModel,
    ImageClassifier,
    arrays_to_npz,
    npz_to_arrays,
)
from shopfloor.ml.images import classify_images, outcomes, require_image_model
from shopfloor.ml.models import RobustZScore
from shopfloor.testing.model_checks import model_checks

SMALL = {"size": [16, 16], "grayscale": True, "roi": None, "normalize": "unit"}


class NearestMean(ImageClassifier):
    """Softmax over minus the distance to each class's mean image."""

    model_type: ClassVar[str] = "test_nearest_mean"
    contract_params: ClassVar[dict[str, Any]] = {"preprocess": SMALL}

    def __init__(self, preprocess: dict[str, Any] | None = None, min_confidence: float = 0.5):
        self._init_image(preprocess, min_confidence)

    def fit(
        self,
        images: ImageBatch,
        y: Sequence[str],
        *,
        calibration: tuple[ImageBatch, Sequence[str]] | None = None,
    ) -> Self:
        batch = self._fit_images(images)
        labels = self._check_labels(batch, y)
        self.classes_ = sorted(set(labels))
        flat = batch.reshape(len(batch), int(np.prod(batch.shape[1:]))).astype(np.float64)
        self.means_ = np.stack(
            [flat[[lab == c for lab in labels]].mean(axis=0) for c in self.classes_]
        )
        self._fitted_on(batch)
        return self

    def predict_proba(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        batch = self._check_images(images)
        flat = batch.reshape(len(batch), int(np.prod(batch.shape[1:]))).astype(np.float64)
        d = np.sqrt(((flat[:, None, :] - self.means_[None]) ** 2).mean(axis=2))
        e = np.exp(-(d - d.min(axis=1, keepdims=True)) * 20)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def to_artifact(self) -> Artifact:
        self.check_fitted()
        return self._image_artifact("npz", arrays_to_npz({"means": self.means_}))

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        model = cls._from_image_artifact(artifact)
        model.means_ = npz_to_arrays(artifact.payload)["means"]
        return model


class MeanDistance(ImageAnomalyModel):
    """Distance to the mean good image."""

    model_type: ClassVar[str] = "test_mean_distance"
    contract_params: ClassVar[dict[str, Any]] = {"preprocess": SMALL}

    def __init__(self, preprocess: dict[str, Any] | None = None, min_confidence: float = 0.5):
        self._init_image(preprocess, min_confidence)

    def fit(self, images: ImageBatch) -> Self:
        batch = self._fit_images(images)
        self.mean_ = (
            batch.reshape(len(batch), int(np.prod(batch.shape[1:]))).astype(np.float64).mean(axis=0)
        )
        self._fitted_on(batch)
        return self.calibrate(batch)

    def score(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        batch = self._check_images(images)
        flat = batch.reshape(len(batch), int(np.prod(batch.shape[1:]))).astype(np.float64)
        return np.asarray(np.sqrt(((flat - self.mean_) ** 2).mean(axis=1)), dtype=np.float64)

    def to_artifact(self) -> Artifact:
        self.check_fitted()
        mean = arrays_to_npz({"mean": self.mean_})
        return self._image_artifact("npz", mean, threshold=self.threshold_, scale=self.scale_)

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        model = cls._from_image_artifact(artifact)
        model.mean_ = npz_to_arrays(artifact.payload)["mean"]
        model.threshold_ = float(artifact.meta["threshold"])
        model.scale_ = float(artifact.meta["scale"])
        return model


TYPES = [NearestMean, MeanDistance]


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in TYPES:
        monkeypatch.setitem(MODEL_TYPES, cls.model_type, cls)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.model_type)
@pytest.mark.usefixtures("registered")
def test_minimal_image_types_keep_the_contract(cls: type[ImageClassifier]) -> None:
    checks = model_checks(cls.model_type)
    names = {check.__name__ for check in checks}
    assert "check_image_encoded_scoring" in names
    assert "check_feature_names" not in names
    for check in checks:
        check(cls.model_type)


def test_tabular_types_skip_the_image_checks() -> None:
    names = {check.__name__ for check in model_checks("robust_zscore")}
    assert "check_feature_names" in names
    assert not any(name.startswith("check_image_") for name in names)


def test_preprocess_is_validated_and_stored_as_json() -> None:
    model = NearestMean(preprocess={"size": (8, 12), "grayscale": False})
    assert model.preprocess["size"] == [8, 12]
    assert model.preprocess_spec.shape == (8, 12, 3)
    with pytest.raises(ModelError, match="size"):
        NearestMean(preprocess={"size": [0, 12]})
    with pytest.raises(ModelError, match="sise"):
        NearestMean(preprocess={"sise": [8, 8]})
    with pytest.raises(ModelError, match="min_confidence"):
        NearestMean(min_confidence=1.5)


def test_labels_are_checked() -> None:
    model = NearestMean(preprocess=SMALL)
    images = np.zeros((4, 16, 16, 1), np.float32)
    with pytest.raises(ModelError, match="3 labels for 4 images"):
        model.fit(images, ["a", "b", "a"])
    with pytest.raises(ModelError, match="at least 2 classes"):
        model.fit(images, ["a"] * 4)
    with pytest.raises(ModelError, match="outcome, not a class"):
        model.fit(images, ["a", "b", "uncertain", "a"])
    with pytest.raises(NotFittedError):
        classify_images(model, images)


def test_outcomes_below_min_confidence_are_uncertain() -> None:
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7]])
    result = outcomes(["ok", "scratch"], proba, 0.6)
    assert [o.label for o in result] == ["ok", UNCERTAIN, "scratch"]
    assert [o.best for o in result] == ["ok", "ok", "scratch"]
    assert result[1].confidence == pytest.approx(0.55)
    assert outcomes(["ok", "scratch"], np.zeros((0, 2)), 0.6) == []


def test_a_tabular_model_is_not_an_image_model() -> None:
    with pytest.raises(ModelError, match="not an image model"):
        require_image_model(RobustZScore())


def test_anomaly_threshold_is_calibrated_on_good_images() -> None:
    rng = np.random.default_rng(0)
    good = rng.normal(0.5, 0.05, (40, 16, 16, 1)).astype(np.float32)
    model = MeanDistance(preprocess=SMALL).fit(good[:20])
    model.calibrate(good[20:], quantile=0.95)
    scores = model.score(good[20:])
    assert (scores <= model.threshold_).mean() >= 0.95
    defect = good[:3].copy()
    defect[:, 4:12, 4:12] = 1.0
    assert model.predict(defect) == ["defect"] * 3
    with pytest.raises(ModelError, match="quantile"):
        model.calibrate(good, quantile=1.0)
