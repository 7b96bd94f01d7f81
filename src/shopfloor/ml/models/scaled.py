"""What every anomaly model on robust z-scores shares: the frame around its learning.

``pca``, ``isolation_forest``, ``gmm`` and ``river_drift`` learn on the baseline's robust
per-regime z-scores (:class:`~shopfloor.ml.scaling.RegimeScaler`), with a missing value
replaced by the baseline's median (z = 0) and a row with no finite value left out of
learning and scored ``NaN`` (unknown). :class:`ScaledAnomalyModel` does that once; a type
implements only what it learns and how it scores:

- :meth:`~ScaledAnomalyModel._fit_z` and :meth:`~ScaledAnomalyModel._score_z` on the
  known rows' z-scores;
- :meth:`~ScaledAnomalyModel._arrays` and :meth:`~ScaledAnomalyModel._restore` for an
  ``.npz`` artifact (the scaler and feature names are saved by the frame), or its own
  :meth:`to_artifact` / :meth:`from_artifact` (ONNX).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import (
    AnomalyModel,
    Artifact,
    FloatMatrix,
    arrays_to_npz,
    npz_to_arrays,
)
from shopfloor.ml.scaling import RegimeScaler, impute_rows

__all__ = ["ScaledAnomalyModel", "ScalerArtifactModel"]


class ScalerArtifactModel(AnomalyModel):
    """An anomaly model whose state is a per-regime scaler plus arrays: its ``.npz`` artifact.

    The scaler and the feature names are saved here; a type adds what it learned besides
    through :meth:`_arrays` and :meth:`_restore` (nothing, by default).
    """

    scaler_: RegimeScaler

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        """What the type learned besides the scaler, as plain numeric arrays."""
        return {}

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Put back what :meth:`_arrays` gave."""

    def to_artifact(self) -> Artifact:
        """The scaler and :meth:`_arrays` as an ``.npz``; feature names in the metadata."""
        self.check_fitted()
        return Artifact(
            model_type=self.model_type,
            params=self.get_params(),
            format="npz",
            payload=arrays_to_npz({**self.scaler_.to_arrays(), **self._arrays()}),
            meta={"feature_names": self.feature_names_in_, **self.scaler_.to_meta()},
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact`."""
        arrays = npz_to_arrays(artifact.payload)
        model = cls(**artifact.params)
        model.scaler_ = RegimeScaler.from_parts(
            artifact.meta["regimes"], arrays["scaler_center"], arrays["scaler_scale"]
        )
        model.feature_names_in_ = list(artifact.meta["feature_names"])
        model._restore(arrays)
        return model


class ScaledAnomalyModel(ScalerArtifactModel):
    """An anomaly model that learns and scores robust per-regime z-scores."""

    def _min_rows(self) -> int:
        """Baseline rows with a finite value that learning needs."""
        return 2

    @abstractmethod
    def _fit_z(self, z: FloatMatrix) -> None:
        """Learn from the known baseline rows' z-scores (missing values are 0)."""

    @abstractmethod
    def _score_z(self, z: FloatMatrix) -> npt.NDArray[np.float64]:
        """One score per known row (higher is more anomalous)."""

    def _z(
        self, x: FloatMatrix, regime: Sequence[str | None] | None
    ) -> tuple[FloatMatrix, npt.NDArray[np.bool_]]:
        return impute_rows(self.scaler_.transform(x, regime))

    def fit(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Learn the scaler, then the model on the known rows' z-scores."""
        x = self._set_features(x, feature_names)
        scaler = RegimeScaler().fit(x, regime)
        z, known = impute_rows(scaler.transform(x, regime))
        need = self._min_rows()
        if known.sum() < need:
            raise ModelError(
                f"{self.model_type}: {int(known.sum())} baseline row(s) with a finite value; "
                f"need at least {need}"
            )
        try:
            self._fit_z(z[known])
        except ValueError as err:
            raise ModelError(f"{self.model_type}: {err}") from err
        self.scaler_ = scaler
        return self

    def score(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> npt.NDArray[np.float64]:
        """One score per row; NaN when unknown (an unseen regime, no finite value)."""
        x = self._check_features(x, feature_names)
        z, known = self._z(x, regime)
        score = np.full(x.shape[0], np.nan)
        if known.any():
            score[known] = self._score_z(z[known])
        return score
