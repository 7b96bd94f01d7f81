"""What the scikit-learn tree-ensemble classifiers share: labels, missing values, ONNX.

The estimator learns integer codes of the sorted class labels (strings are kept in the
artifact's metadata, never inside the graph); missing values are replaced by the
training median of their feature (kept in the metadata too) because the ONNX tree
operators have no missing-value branch. The fitted ensemble is converted to ONNX with
class probabilities (skl2onnx, no ZipMap) at the end of ``fit``, and every probability,
before and after save/load, comes from onnxruntime running that graph: reloaded
probabilities are bit-identical.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import Artifact, Classifier, FloatMatrix
from shopfloor.ml.onnxio import OnnxGraph, sklearn_to_onnx

__all__ = ["TreeEnsembleClassifier"]


class TreeEnsembleClassifier(Classifier):
    """Base of ``gradient_boosting`` and ``random_forest``: subclasses build the estimator."""

    exports_onnx = True

    medians_: npt.NDArray[np.float64]
    onnx_: bytes
    graph_: OnnxGraph

    @abstractmethod
    def _estimator(self) -> Any:
        """A new, unfitted scikit-learn classifier with this model's parameters."""

    def fit(
        self,
        x: FloatMatrix,
        y: Sequence[str],
        *,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Learn the labelled rows; at least two classes."""
        x = self._set_features(x, feature_names)
        labels = [str(label) for label in y]
        if len(labels) != x.shape[0]:
            raise ModelError(f"{self.model_type}: {len(labels)} labels for {x.shape[0]} rows")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ModelError(f"{self.model_type}: needs at least 2 classes, got {classes}")
        finite = np.isfinite(x)
        with np.errstate(all="ignore"):
            medians = np.array(
                [
                    np.median(x[finite[:, j], j]) if finite[:, j].any() else 0.0
                    for j in range(x.shape[1])
                ]
            )
        codes = np.searchsorted(np.array(classes), np.array(labels))
        try:
            estimator = self._estimator().fit(np.where(finite, x, medians), codes)
        except ValueError as err:
            raise ModelError(f"{self.model_type}: {err}") from err
        self.medians_ = medians
        self.classes_ = classes
        self.onnx_ = sklearn_to_onnx(estimator, x.shape[1], options={"zipmap": False})
        self.graph_ = OnnxGraph(self.onnx_)
        return self

    def predict_proba(
        self, x: FloatMatrix, *, feature_names: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """Rows × :attr:`classes_` probabilities from the ONNX graph."""
        x = self._check_features(x, feature_names)
        if x.shape[0] == 0:
            return np.zeros((0, len(self.classes_)))
        filled = np.where(np.isfinite(x), x, self.medians_)
        proba: npt.NDArray[np.float64] = self.graph_.run(filled)["probabilities"].astype(np.float64)
        return proba

    def to_artifact(self) -> Artifact:
        """The ensemble as ONNX; classes, medians and feature names in the metadata."""
        self.check_fitted()
        return Artifact(
            model_type=self.model_type,
            params=self.get_params(),
            format="onnx",
            payload=self.onnx_,
            meta={
                "feature_names": self.feature_names_in_,
                "classes": self.classes_,
                "medians": self.medians_.tolist(),
            },
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact`."""
        model = cls(**artifact.params)
        model.classes_ = [str(c) for c in artifact.meta["classes"]]
        model.medians_ = np.asarray(artifact.meta["medians"], dtype=np.float64)
        model.onnx_ = artifact.payload
        model.graph_ = OnnxGraph(artifact.payload, source=f"{cls.model_type} artifact")
        model.feature_names_in_ = list(artifact.meta["feature_names"])
        return model
