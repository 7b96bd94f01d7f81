"""A small anomaly model for registry and service tests: distance from the baseline mean.

Registered as ``toy_distance`` when this module is imported (tests import it; a new
process imports it before running the command line).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import numpy.typing as npt

from shopfloor.ml.base import (
    AnomalyModel,
    Artifact,
    FloatMatrix,
    arrays_to_npz,
    npz_to_arrays,
    register_model,
)


@register_model
class ToyDistance(AnomalyModel):
    """Euclidean distance of the scaled row from the baseline mean; NaN rows score NaN."""

    model_type = "toy_distance"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def fit(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        x = self._set_features(x, feature_names)
        self.mean_ = np.nanmean(x, axis=0)
        self.std_ = np.nanstd(x, axis=0) + 1e-12
        return self

    def score(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> npt.NDArray[np.float64]:
        x = self._check_features(x, feature_names)
        z = (x - self.mean_) / self.std_
        return np.asarray(self.scale * np.sqrt(np.sum(z * z, axis=1)), dtype=np.float64)

    def to_artifact(self) -> Artifact:
        self.check_fitted()
        payload = arrays_to_npz({"mean": self.mean_, "std": self.std_})
        return Artifact(
            self.model_type,
            self.get_params(),
            "npz",
            payload,
            {"feature_names": self.feature_names_in_},
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        model = cls(**artifact.params)
        arrays = npz_to_arrays(artifact.payload)
        model.feature_names_in_ = list(artifact.meta["feature_names"])
        model.mean_, model.std_ = arrays["mean"], arrays["std"]
        return model
