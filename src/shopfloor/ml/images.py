"""Image models at scoring time: encoded bytes in, a class and a confidence out.

What the runtime, the ``score --images`` command and the evaluation call: decode and
preprocess each image with the model's own ``preprocess`` parameter
(:mod:`shopfloor.features.images`), then take the most probable class. When that class's
probability is below the model's ``min_confidence``, the outcome is
:data:`~shopfloor.ml.base.UNCERTAIN` (the part goes to manual review) rather than a
forced class; the best class is still reported beside it.

Examples
--------
>>> outcome = ImageOutcome("uncertain", 0.41, "scratches")
>>> outcome.label, outcome.best
('uncertain', 'scratches')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.features.images import ImageBatch, preprocess_batch
from shopfloor.ml.base import UNCERTAIN, ImageModel, Model

__all__ = ["ImageOutcome", "classify_encoded", "classify_images", "outcomes", "require_image_model"]


class ImageOutcome(NamedTuple):
    """What a model made of one image.

    Attributes
    ----------
    label
        The class, or :data:`~shopfloor.ml.base.UNCERTAIN` when ``confidence`` is below
        the model's ``min_confidence``.
    confidence
        The probability of the most probable class, in [0, 1].
    best
        The most probable class (equal to ``label`` unless uncertain).
    """

    label: str
    confidence: float
    best: str


def require_image_model(model: Model) -> ImageModel:
    """``model`` as an image model, or ``ModelError`` saying which task it has instead."""
    if not isinstance(model, ImageModel):
        raise ModelError(
            f"{model.model_type} is a {model.task} model, not an image model "
            "(image_classification or image_anomaly)"
        )
    return model


def outcomes(
    classes: Sequence[str], proba: npt.NDArray[np.float64], min_confidence: float
) -> list[ImageOutcome]:
    """One :class:`ImageOutcome` per row of class probabilities."""
    best = np.argmax(proba, axis=1) if proba.shape[0] else np.zeros(0, dtype=np.int64)
    confidence = proba[np.arange(proba.shape[0]), best] if proba.shape[0] else np.zeros(0)
    result = []
    for index, conf in zip(best.tolist(), confidence.tolist(), strict=True):
        name = classes[index]
        result.append(ImageOutcome(name if conf >= min_confidence else UNCERTAIN, conf, name))
    return result


def classify_images(model: Model, images: ImageBatch) -> list[ImageOutcome]:
    """Preprocessed images ``(n, h, w, c)`` → one outcome each (see :class:`ImageOutcome`)."""
    image_model = require_image_model(model)
    proba = image_model.predict_proba(images)
    return outcomes(image_model.classes_, proba, image_model.min_confidence)


def classify_encoded(
    model: Model, images: Sequence[bytes], *, names: Sequence[str] | None = None
) -> list[ImageOutcome]:
    """Encoded images (PNG, JPEG, BMP, TIFF) → one outcome each, with the model's preprocessing.

    Parameters
    ----------
    model
        A fitted image model (:class:`~shopfloor.ml.base.ImageModel`).
    images
        The encoded images.
    names
        One name per image (a file name, a part id), used in errors.

    Raises
    ------
    NotAnImage, ImageRejected
        An image is no image, truncated or corrupt, or smaller than the model's region of
        interest (the message names it); nothing is scored then.
    ModelError
        ``model`` is not an image model, or is not fitted.
    """
    image_model = require_image_model(model)
    image_model.check_fitted()
    batch = preprocess_batch(images, image_model.preprocess_spec, names=names)
    return classify_images(image_model, batch)
