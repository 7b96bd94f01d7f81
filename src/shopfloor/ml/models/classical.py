"""``classical``: texture features and a support vector machine, no neural network.

(Or, with ``spatial_grid`` and ``classifier="logistic"``, for parts seen in about the same
pose: features of where things are too, and a logistic regression.)

Each preprocessed image becomes a row of texture features
(:func:`shopfloor.features.texture.texture_features`: rotation-invariant LBP histograms
at a few radii, grey-level co-occurrence statistics, an oriented-gradient histogram and
intensity statistics), computed in numpy. A standardizing scaler and an RBF support
vector machine learn the rows; the classes are weighted inversely to their frequency
(``class_weight="balanced"``), so a rare defect class counts as much as a common one.
Confidence is calibrated by Platt scaling (a logistic fit of the SVM's decision values,
cross-validated inside ``fit``, seeded by ``random_state``).

The scaler and the SVM are kept as one ONNX graph (skl2onnx) taking the feature rows,
and every probability, before and after save/load, comes from onnxruntime running it.

Examples
--------
>>> from shopfloor.testing.model_checks import example_pixels
>>> from shopfloor.features.images import preprocess_batch
>>> pixels, labels = example_pixels(36)
>>> model = ClassicalImageClassifier(preprocess={"size": [24, 24]})
>>> images = preprocess_batch(list(pixels), model.preprocess_spec)
>>> model.fit(images, labels).classes_
['plain', 'spots', 'stripes']
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.features.images import ImageBatch
from shopfloor.features.texture import (
    spatial_feature_names,
    spatial_features,
    texture_feature_names,
    texture_features,
)
from shopfloor.ml.base import Artifact, ImageClassifier, register_model
from shopfloor.ml.onnxio import OnnxGraph, sklearn_to_onnx

__all__ = ["DEFAULT_PREPROCESS", "ClassicalImageClassifier", "TextureFeatures", "TextureParameters"]

DEFAULT_PREPROCESS: dict[str, Any] = {
    "size": [128, 128],
    "grayscale": True,
    "roi": None,
    "normalize": "unit",
}
"""128×128 grayscale: enough for the textures, a few ms of features per image."""


class TextureFeatures:
    """The feature extraction of a texture model type: its parameters, names, rows.

    Parameters
    ----------
    lbp_radii
        LBP circle radii in pixels (8 neighbours each).
    glcm_distances
        Co-occurrence distances in pixels.
    orientations
        Bins of the gradient-orientation histograms.
    spatial_grid
        0: texture features only (for surfaces, where a defect can be anywhere); N: also
        the :func:`~shopfloor.features.texture.spatial_features` of an N × N grid (for
        parts seen in about the same pose).
    """

    def __init__(
        self,
        lbp_radii: Sequence[int],
        glcm_distances: Sequence[int],
        orientations: int,
        spatial_grid: int = 0,
    ) -> None:
        self.lbp_radii = [int(r) for r in lbp_radii]
        self.glcm_distances = [int(d) for d in glcm_distances]
        self.orientations = int(orientations)
        self.spatial_grid = int(spatial_grid)

    @property
    def names(self) -> list[str]:
        """One name per feature column."""
        names = texture_feature_names(
            radii=self.lbp_radii, distances=self.glcm_distances, orientations=self.orientations
        )
        if self.spatial_grid:
            names += spatial_feature_names(grid=self.spatial_grid, orientations=self.orientations)
        return names

    def rows(self, images: ImageBatch, model_type: str) -> npt.NDArray[np.float64]:
        """Feature rows of preprocessed images; ``ModelError`` when they are too small."""
        try:
            rows = texture_features(
                images,
                radii=self.lbp_radii,
                distances=self.glcm_distances,
                orientations=self.orientations,
            )
            if self.spatial_grid:
                spatial = spatial_features(
                    images, grid=self.spatial_grid, orientations=self.orientations
                )
                rows = np.concatenate([rows, spatial], axis=1)
        except ValueError as err:
            raise ModelError(f"{model_type}: {err}") from err
        return rows


class TextureParameters:
    """The feature parameters ``classical`` and ``good_only`` share, checked and kept."""

    model_type: ClassVar[str]
    lbp_radii: list[int]
    glcm_distances: list[int]
    orientations: int
    spatial_grid: int

    def _init_texture(
        self,
        lbp_radii: list[int] | None,
        glcm_distances: list[int] | None,
        orientations: int,
        spatial_grid: int,
    ) -> None:
        """Keep the parameters; ``ModelError`` naming the one out of range."""
        self.lbp_radii = [1, 2, 3] if lbp_radii is None else lbp_radii
        self.glcm_distances = [1, 2, 4] if glcm_distances is None else glcm_distances
        for name, values in (
            ("lbp_radii", self.lbp_radii),
            ("glcm_distances", self.glcm_distances),
        ):
            if (
                not isinstance(values, list | tuple)
                or not values
                or not all(isinstance(v, int) and 1 <= v <= 32 for v in values)
            ):
                raise ModelError(
                    f"{self.model_type}: {name} must be a non-empty list of integers 1..32, "
                    f"got {values!r}"
                )
        if not isinstance(orientations, int) or not 2 <= orientations <= 36:
            raise ModelError(f"{self.model_type}: orientations must be 2..36, got {orientations!r}")
        if not isinstance(spatial_grid, int) or not 0 <= spatial_grid <= 16:
            raise ModelError(f"{self.model_type}: spatial_grid must be 0..16, got {spatial_grid!r}")
        self.orientations = orientations
        self.spatial_grid = spatial_grid

    @property
    def texture(self) -> TextureFeatures:
        """The feature extraction with this model's parameters."""
        return TextureFeatures(
            self.lbp_radii, self.glcm_distances, self.orientations, self.spatial_grid
        )


@register_model
class ClassicalImageClassifier(TextureParameters, ImageClassifier):
    """Texture features + a class-weighted RBF SVM with Platt-calibrated probabilities.

    Parameters
    ----------
    preprocess
        Image preprocessing (:class:`~shopfloor.features.images.ImagePreprocess` as a
        dict); default :data:`DEFAULT_PREPROCESS`.
    min_confidence
        Below this probability of the best class the outcome is ``uncertain``.
    lbp_radii, glcm_distances, orientations, spatial_grid
        Features (see :class:`TextureFeatures`); ``spatial_grid`` > 0 adds where things
        are, for parts seen in about the same pose (with ``classifier="logistic"``).
    classifier
        ``svm`` (RBF kernel) or ``logistic`` (multinomial logistic regression: better
        with the many spatial features).
    c
        The classifier's inverse regularization (larger fits the training images more
        closely; about 10 for ``svm``, 0.1 for ``logistic``).
    balanced
        Weight the classes inversely to their frequency.
    random_state
        Seeds the cross-validation of the probability calibration.
    """

    model_type: ClassVar[str] = "classical"
    exports_onnx: ClassVar[bool] = True
    contract_params: ClassVar[dict[str, Any]] = {
        "preprocess": {"size": [24, 24], "grayscale": True}
    }

    classes_: list[str]
    onnx_: bytes
    graph_: OnnxGraph

    def __init__(
        self,
        preprocess: dict[str, Any] | None = None,
        min_confidence: float = 0.5,
        lbp_radii: list[int] | None = None,
        glcm_distances: list[int] | None = None,
        orientations: int = 9,
        spatial_grid: int = 0,
        classifier: Literal["svm", "logistic"] = "svm",
        c: float = 10.0,
        balanced: bool = True,
        random_state: int = 0,
    ) -> None:
        self._init_image(DEFAULT_PREPROCESS if preprocess is None else preprocess, min_confidence)
        if classifier not in ("svm", "logistic"):
            raise ModelError(f"classical: classifier must be svm or logistic, got {classifier!r}")
        self._init_texture(lbp_radii, glcm_distances, orientations, spatial_grid)
        if not isinstance(c, int | float) or not c > 0:
            raise ModelError(f"classical: c must be a positive number, got {c!r}")
        self.classifier = classifier
        self.c = c
        self.balanced = balanced
        self.random_state = random_state

    def fit(
        self,
        images: ImageBatch,
        y: Sequence[str],
        *,
        calibration: tuple[ImageBatch, Sequence[str]] | None = None,
    ) -> Self:
        """Learn labelled preprocessed images (at least two classes, three images each).

        ``calibration`` is not used: the probabilities are calibrated by cross-validation
        on the training images.
        """
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        batch = self._fit_images(images)
        labels = self._check_labels(batch, y)
        classes = sorted(set(labels))
        counts = {c: labels.count(c) for c in classes}
        few = sorted(c for c, k in counts.items() if k < 3)
        if few:
            raise ModelError(
                f"classical: every class needs at least 3 images to calibrate its confidence; "
                f"too few for {', '.join(few)} ({', '.join(str(counts[c]) for c in few)})"
            )
        rows = self.texture.rows(batch, self.model_type)
        codes = np.searchsorted(np.array(classes), np.array(labels))
        weights = "balanced" if self.balanced else None
        base: Any
        if self.classifier == "svm":
            base = SVC(C=float(self.c), gamma="scale", class_weight=weights)
        else:
            base = LogisticRegression(C=float(self.c), class_weight=weights, max_iter=5000)
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=self.random_state)
        estimator = make_pipeline(
            StandardScaler(),
            CalibratedClassifierCV(base, method="sigmoid", cv=folds, ensemble=False),
        )
        try:
            estimator.fit(rows, codes)
        except ValueError as err:
            raise ModelError(f"classical: {err}") from err
        with warnings.catch_warnings():
            # skl2onnx reads SVC.probA_ and probB_, deprecated in scikit-learn 1.9 (and empty here:
            # the probabilities come from the calibration, not from libsvm)
            warnings.filterwarnings("ignore", message=".*prob[AB]_.*", category=FutureWarning)
            self.onnx_ = sklearn_to_onnx(estimator, rows.shape[1], options={"zipmap": False})
        self.graph_ = OnnxGraph(self.onnx_)
        self.classes_ = classes
        self._fitted_on(batch)
        return self

    def features(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """The feature rows the SVM sees (for reports and the ``good_only`` type)."""
        return self.texture.rows(self._check_images(images), self.model_type)

    def predict_proba(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """Images × :attr:`classes_` calibrated probabilities from the ONNX graph."""
        batch = self._check_images(images)
        if batch.shape[0] == 0:
            return np.zeros((0, len(self.classes_)))
        rows = self.texture.rows(batch, self.model_type)
        proba = self.graph_.run(rows)["probabilities"].astype(np.float64)
        # float32 in the graph: renormalize so each row sums to 1 in float64
        return np.asarray(proba / proba.sum(axis=1, keepdims=True), dtype=np.float64)

    def to_artifact(self) -> Artifact:
        """The scaler + SVM as ONNX; classes, input shape and feature names in the metadata."""
        self.check_fitted()
        return self._image_artifact("onnx", self.onnx_, feature_names=self.texture.names)

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact`."""
        model = cls._from_image_artifact(artifact)
        model.onnx_ = artifact.payload
        model.graph_ = OnnxGraph(artifact.payload, source="classical artifact")
        return model
