r"""``isolation_forest``: scikit-learn's IsolationForest on robust z-scores, kept as ONNX.

Inputs are first standardised per regime (:class:`~shopfloor.ml.scaling.RegimeScaler`),
so one forest serves every regime; missing values become the baseline median (z = 0).
The score is minus the forest's decision function,

.. math::

    s(x) = -\left(-2^{-E[h(x)] / c(n)} - \text{offset}\right)
         = 2^{-E[h(x)] / c(n)} - 0.5,

higher is more anomalous, about 0 at the boundary scikit-learn draws with
``contamination="auto"``. The fitted forest is converted to ONNX (skl2onnx) at the end
of ``fit`` and every score, before and after save/load, is computed by onnxruntime from
that graph (float32): reloaded scores are bit-identical to the fitted model's.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(200, 2))
>>> model = IsolationForestModel(n_estimators=20).fit(x)
>>> bool(model.score(np.array([[8.0, 8.0]]))[0] > model.score(np.array([[0.0, 0.0]]))[0])
True
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import Artifact, FloatMatrix, register_model
from shopfloor.ml.models.scaled import ScaledAnomalyModel
from shopfloor.ml.onnxio import OnnxGraph, sklearn_to_onnx
from shopfloor.ml.scaling import RegimeScaler

__all__ = ["IsolationForestModel"]


@register_model
class IsolationForestModel(ScaledAnomalyModel):
    """Isolation Forest over robust per-regime z-scores.

    Parameters
    ----------
    n_estimators
        Number of trees.
    max_samples
        Rows drawn for each tree (``"auto"``: ``min(256, n)``), as scikit-learn's.
    max_features
        Fraction of the features each tree sees.
    random_state
        Seed: the same seed and data give the same forest.
    """

    model_type: ClassVar[str] = "isolation_forest"
    contract_params: ClassVar[dict[str, Any]] = {"n_estimators": 20}
    exports_onnx: ClassVar[bool] = True

    graph_: OnnxGraph
    onnx_: bytes

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int | float | str = "auto",
        max_features: float = 1.0,
        random_state: int = 0,
    ) -> None:
        if not isinstance(n_estimators, int) or n_estimators < 1:
            raise ModelError(
                f"isolation_forest: n_estimators must be a positive integer, got {n_estimators!r}"
            )
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.random_state = random_state

    def _fit_z(self, z: FloatMatrix) -> None:
        """Grow the forest on the baseline's z-scores and convert it to ONNX."""
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            max_features=self.max_features,
            random_state=self.random_state,
        ).fit(z)
        self.onnx_ = sklearn_to_onnx(forest, z.shape[1])
        self.graph_ = OnnxGraph(self.onnx_)

    def _score_z(self, z: FloatMatrix) -> npt.NDArray[np.float64]:
        """Minus the forest's decision function (ONNX, float32)."""
        score: npt.NDArray[np.float64] = -self.graph_.run(z)["scores"].astype(np.float64).ravel()
        return score

    def to_artifact(self) -> Artifact:
        """The forest as ONNX; the per-regime scaler and feature names in the metadata."""
        self.check_fitted()
        return Artifact(
            model_type=self.model_type,
            params=self.get_params(),
            format="onnx",
            payload=self.onnx_,
            meta=_meta(self.feature_names_in_, self.scaler_),
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact`."""
        model = cls(**artifact.params)
        model.scaler_ = RegimeScaler.from_json(artifact.meta["scaler"])
        model.onnx_ = artifact.payload
        model.graph_ = OnnxGraph(artifact.payload, source="isolation_forest artifact")
        model.feature_names_in_ = list(artifact.meta["feature_names"])
        return model


def _meta(feature_names: list[str], scaler: RegimeScaler) -> dict[str, Any]:
    return {"feature_names": feature_names, "scaler": scaler.to_json(), "score": "-decision"}
