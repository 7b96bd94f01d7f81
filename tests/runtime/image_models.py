"""A tiny image classifier for runtime tests, and images it tells apart.

``test_brightness`` learns each class's mean brightness and gives a softmax over minus
the distance to each; images are flat grey PNGs, so ``image(level)`` is classified by
its level alone. Tests put the type into ``MODEL_TYPES`` (``brightness_type`` in
``test_image_deployments.py``) and register versions of it with :func:`register`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from PIL import Image

from shopfloor.config import Project
from shopfloor.features.images import ImageBatch, preprocess_batch
from shopfloor.ml.base import Artifact, ImageClassifier
from shopfloor.ml.registry import ModelVersion
from shopfloor.services.models import model_registry

SMALL = {"size": [8, 8], "grayscale": True, "roi": None, "normalize": "unit"}


class Brightness(ImageClassifier):
    """Softmax over minus the distance of an image's mean to each class's mean."""

    model_type: ClassVar[str] = "test_brightness"
    contract_params: ClassVar[dict[str, Any]] = {"preprocess": SMALL}

    def __init__(
        self,
        preprocess: dict[str, Any] | None = None,
        min_confidence: float = 0.6,
        sharpness: float = 40.0,
        fail_above: float | None = None,
        sleep_s: float = 0.0,
    ) -> None:
        self._init_image(preprocess or SMALL, min_confidence)
        self.sharpness = sharpness
        self.fail_above = fail_above
        self.sleep_s = sleep_s

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
        means = batch.reshape(len(batch), -1).mean(axis=1)
        self.means_ = np.array([means[[lab == c for lab in labels]].mean() for c in self.classes_])
        self._fitted_on(batch)
        return self

    def predict_proba(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        batch = self._check_images(images)
        time.sleep(self.sleep_s * len(batch))  # a slow model, to build a backlog
        level = batch.reshape(len(batch), -1).mean(axis=1).astype(np.float64)
        if self.fail_above is not None and (level > self.fail_above).any():
            # as an inference library fails: not one of the project's errors
            raise RuntimeError(f"{self.model_type}: an image brighter than {self.fail_above}")
        d = np.abs(level[:, None] - self.means_[None, :])
        e = np.exp(-(d - d.min(axis=1, keepdims=True)) * self.sharpness)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def to_artifact(self) -> Artifact:
        self.check_fitted()
        return Artifact(
            self.model_type,
            self.get_params(),
            "npz",
            b"",
            {
                "classes": self.classes_,
                "means": self.means_.tolist(),
                "input_shape": list(self.input_shape_),
            },
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        model = cls(**artifact.params)
        model.classes_ = list(artifact.meta["classes"])
        model.means_ = np.array(artifact.meta["means"], dtype=np.float64)
        h, w, c = artifact.meta["input_shape"]
        model.input_shape_ = (h, w, c)
        return model


def image(level: int, size: int = 8) -> bytes:
    """A flat grey PNG at ``level`` (0..255)."""
    buffer = io.BytesIO()
    Image.new("L", (size, size), level).save(buffer, format="PNG")
    return buffer.getvalue()


LEVELS = {"good": 200, "dented": 60}
"""The grey level of each class's images: far apart, so every image is confidently one."""
UNSURE = 130
"""A level halfway: the two classes are about as likely (uncertain)."""


def register_fitted(
    project: Project, name: str, model: ImageClassifier, dataset: dict[str, Any]
) -> ModelVersion:
    """Register a fitted image classifier as a version of ``name`` in the project's registry."""
    card = {
        "task": model.task,
        "pipeline": {},
        "input": {"kind": "image", "preprocess": model.preprocess},
        "dataset": dataset,
        "split": {},
        "metrics": {},
        "calibration": {"min_confidence": model.min_confidence},
        "lineage": {},
    }
    return model_registry(project).register(name, model.to_artifact(), card, who="test")


def register(project: Project, name: str = "carton", **params: Any) -> ModelVersion:
    """Fit :class:`Brightness` on a few images of each class and register a version."""
    data = [image(level) for level in LEVELS.values() for _ in range(3)]
    labels = [label for label in LEVELS for _ in range(3)]
    model = Brightness(**params)
    model.fit(preprocess_batch(data, model.preprocess_spec), labels)
    return register_fitted(project, name, model, {"images": len(data)})
