r"""``good_only``: learns good parts only; a defect is an image unlike all of them.

For lines where defects are too rare to label. Each image becomes a row of texture
features (as ``classical``: :func:`shopfloor.features.texture.texture_features`), scaled
robustly by the good images' median and interquartile range. An image scores the mean
Euclidean distance from its row to its ``k`` nearest good rows,

.. math::

    s(x) = \frac1k \sum_{j \in \mathrm{kNN}(x)} \lVert z(x) - z_j \rVert_2,

so a defect anywhere in the feature space scores high without a model of what defects
look like. ``fit`` sets a first threshold from the good images' leave-one-out scores;
:meth:`~shopfloor.ml.base.ImageAnomalyModel.calibrate` sets it on held-back good images
(the training service does). Scores above the threshold are ``defect``.

Examples
--------
>>> from shopfloor.testing.model_checks import example_pixels
>>> from shopfloor.features.images import preprocess_batch
>>> pixels, labels = example_pixels(60)
>>> model = GoodOnlyModel(preprocess={"size": [24, 24]})
>>> images = preprocess_batch(list(pixels), model.preprocess_spec)
>>> good = images[[label == "plain" for label in labels]]
>>> model.fit(good).predict(images[[1, 2]])
['defect', 'defect']
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.features.images import ImageBatch
from shopfloor.ml.base import (
    Artifact,
    ImageAnomalyModel,
    arrays_to_npz,
    npz_to_arrays,
    register_model,
    threshold_from_scores,
)
from shopfloor.ml.models.classical import DEFAULT_PREPROCESS, TextureParameters

__all__ = ["GoodOnlyModel"]

_CHUNK = 256
"""Images whose distances are computed at once (bounds the memory of a large batch)."""


@register_model
class GoodOnlyModel(TextureParameters, ImageAnomalyModel):
    """k-nearest-neighbour distance to good parts' texture features.

    Parameters
    ----------
    preprocess
        Image preprocessing (default as ``classical``).
    min_confidence
        Below this probability (of ``defect`` or ``good``) the outcome is ``uncertain``.
    k
        Neighbours averaged (fewer when there are fewer good images).
    quantile
        The threshold is this quantile of good images' scores (0.99: about 1 good part in
        100 rejected).
    lbp_radii, glcm_distances, orientations, spatial_grid
        Features (see :class:`~shopfloor.ml.models.classical.TextureFeatures`);
        ``spatial_grid`` > 0 adds where things are, for parts seen in about the same pose.
    """

    model_type: ClassVar[str] = "good_only"
    contract_params: ClassVar[dict[str, Any]] = {"preprocess": {"size": [24, 24]}}

    center_: npt.NDArray[np.float64]
    spread_: npt.NDArray[np.float64]
    good_: npt.NDArray[np.float64]

    def __init__(
        self,
        preprocess: dict[str, Any] | None = None,
        min_confidence: float = 0.5,
        k: int = 5,
        quantile: float = 0.99,
        lbp_radii: list[int] | None = None,
        glcm_distances: list[int] | None = None,
        orientations: int = 9,
        spatial_grid: int = 0,
    ) -> None:
        self._init_image(DEFAULT_PREPROCESS if preprocess is None else preprocess, min_confidence)
        if not isinstance(k, int) or k < 1:
            raise ModelError(f"good_only: k must be an integer ≥ 1, got {k!r}")
        if not isinstance(quantile, int | float) or not 0.5 <= quantile < 1.0:
            raise ModelError(f"good_only: quantile must be in [0.5, 1), got {quantile!r}")
        self._init_texture(lbp_radii, glcm_distances, orientations, spatial_grid)
        self.k = k
        self.quantile = quantile

    def _scaled(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        rows = self.texture.rows(images, self.model_type)
        return (rows - self.center_) / self.spread_

    def fit(self, images: ImageBatch) -> Self:
        """Learn good images (at least 2); a first threshold from their leave-one-out scores."""
        batch = self._fit_images(images)
        if batch.shape[0] < 2:
            raise ModelError(f"good_only: needs at least 2 good images, got {batch.shape[0]}")
        rows = self.texture.rows(batch, self.model_type)
        center = np.median(rows, axis=0)
        q75, q25 = np.percentile(rows, [75, 25], axis=0)
        spread = q75 - q25
        # a feature constant over the good images: scaled by its overall size instead
        spread = np.where(spread > 1e-9, spread, np.maximum(np.abs(center) * 0.1, 1e-3))
        good = (rows - center) / spread
        self.center_, self.spread_, self.good_ = center, spread, good
        self.threshold_, self.scale_ = threshold_from_scores(
            self._distances(good, leave_one_out=True), self.quantile
        )
        self._fitted_on(batch)
        return self

    def _distances(
        self, rows: npt.NDArray[np.float64], *, leave_one_out: bool = False
    ) -> npt.NDArray[np.float64]:
        k = min(self.k, len(self.good_) - (1 if leave_one_out else 0))
        out = np.empty(len(rows))
        good_sq = np.sum(self.good_**2, axis=1)
        for start in range(0, len(rows), _CHUNK):
            part = rows[start : start + _CHUNK]
            d2 = np.sum(part**2, axis=1)[:, None] + good_sq[None, :] - 2.0 * part @ self.good_.T
            d = np.sqrt(np.maximum(d2, 0.0))
            skip = 1 if leave_one_out else 0  # the nearest is then the image itself
            d = np.sort(d, axis=1)[:, skip : skip + k]
            out[start : start + len(part)] = d.mean(axis=1)
        return out

    def score(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """Mean distance to the ``k`` nearest good images' features: higher is more anomalous."""
        batch = self._check_images(images)
        if batch.shape[0] == 0:
            return np.zeros(0)
        return self._distances(self._scaled(batch))

    def to_artifact(self) -> Artifact:
        """The good rows and the scaling as an ``.npz``; threshold and shape in the metadata."""
        self.check_fitted()
        return self._image_artifact(
            "npz",
            arrays_to_npz({"center": self.center_, "spread": self.spread_, "good": self.good_}),
            threshold=self.threshold_,
            scale=self.scale_,
            feature_names=self.texture.names,
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact`."""
        model = cls._from_image_artifact(artifact)
        arrays = npz_to_arrays(artifact.payload)
        model.center_, model.spread_, model.good_ = (
            arrays["center"],
            arrays["spread"],
            arrays["good"],
        )
        model.threshold_ = float(artifact.meta["threshold"])
        model.scale_ = float(artifact.meta["scale"])
        return model
