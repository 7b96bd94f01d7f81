r"""``pca``: principal components of the healthy baseline; SPE (Q) or Hotelling's T².

Inputs are robust per-regime z-scores :math:`z` (missing values become 0, the baseline
median). scikit-learn's PCA learns the mean :math:`\mu`, the loadings :math:`P`
(features × k) and the component variances :math:`\lambda_1..\lambda_k`. With
:math:`t = P^\top (z - \mu)`:

.. math::

    \mathrm{SPE} = Q = \lVert (z - \mu) - P t \rVert^2, \qquad
    T^2 = \sum_{a=1}^{k} t_a^2 / \lambda_a

``statistic="spe"`` scores the reconstruction error (what the baseline's correlations
cannot explain), ``"t2"`` the Mahalanobis distance inside the model plane, ``"both"``
their sum after dividing each by its median on the baseline (so neither dominates by
units). The learned arrays are stored in an ``.npz``; scoring is plain numpy in float64.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> t = rng.normal(size=(300, 1))
>>> x = np.hstack([t, t + 0.05 * rng.normal(size=(300, 1))])
>>> model = PCAModel(n_components=1).fit(x)
>>> bool(model.score(np.array([[1.0, -1.0]]))[0] > model.score(np.array([[1.0, 1.0]]))[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import (
    AnomalyModel,
    Artifact,
    FloatMatrix,
    arrays_to_npz,
    npz_to_arrays,
    register_model,
)
from shopfloor.ml.scaling import RegimeScaler, impute_rows

__all__ = ["PCAModel"]

Statistic = Literal["spe", "t2", "both"]


@register_model
class PCAModel(AnomalyModel):
    """PCA reconstruction error and/or Hotelling's T² on robust z-scores.

    Parameters
    ----------
    n_components
        Components kept: an integer, or a fraction in (0, 1) of the baseline variance to
        explain (default 0.95).
    statistic
        ``"spe"`` (squared prediction error, default), ``"t2"`` or ``"both"``.
    """

    model_type: ClassVar[str] = "pca"

    scaler_: RegimeScaler
    mean_: npt.NDArray[np.float64]
    components_: npt.NDArray[np.float64]
    variances_: npt.NDArray[np.float64]
    norm_: npt.NDArray[np.float64]

    def __init__(self, n_components: int | float = 0.95, statistic: Statistic = "spe") -> None:
        if statistic not in ("spe", "t2", "both"):
            raise ModelError(f"pca: statistic must be spe, t2 or both, got {statistic!r}")
        if isinstance(n_components, bool) or not (
            (isinstance(n_components, int) and n_components >= 1)
            or (isinstance(n_components, float) and 0 < n_components < 1)
        ):
            raise ModelError(
                "pca: n_components must be an integer ≥ 1 or a fraction in (0, 1), "
                f"got {n_components!r}"
            )
        self.n_components = n_components
        self.statistic = statistic

    def fit(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Learn the principal components of the baseline's z-scores."""
        from sklearn.decomposition import PCA

        x = self._set_features(x, feature_names)
        scaler = RegimeScaler().fit(x, regime)
        z, known = impute_rows(scaler.transform(x, regime))
        z = z[known]
        if z.shape[0] < 2 or z.shape[1] < 1:
            raise ModelError(
                f"pca: {z.shape[0]} baseline row(s) × {z.shape[1]} feature(s); need at least 2 × 1"
            )
        k = self.n_components
        if isinstance(k, int):
            k = min(k, z.shape[0], z.shape[1])
        pca = PCA(n_components=k, svd_solver="full").fit(z)
        self.scaler_ = scaler
        self.mean_ = pca.mean_.astype(np.float64)
        self.components_ = pca.components_.astype(np.float64)
        # a component with no variance would divide by zero in T²
        self.variances_ = np.maximum(pca.explained_variance_.astype(np.float64), 1e-12)
        self.norm_ = np.ones(2)
        spe, t2 = self._statistics(z)
        self.norm_ = np.array([_positive_median(spe), _positive_median(t2)])
        return self

    def _project(
        self, z: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Scores ``t`` in the model plane and the residual off it."""
        centred = z - self.mean_
        t = centred @ self.components_.T
        return t, centred - t @ self.components_

    def _statistics(
        self, z: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        t, residual = self._project(z)
        spe = np.einsum("ij,ij->i", residual, residual)
        t2 = np.einsum("ij,ij->i", t, t / self.variances_)
        return spe, t2

    def score(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> npt.NDArray[np.float64]:
        """SPE, T² or their normalised sum per row; NaN when unknown."""
        x = self._check_features(x, feature_names)
        z, known = impute_rows(self.scaler_.transform(x, regime))
        spe, t2 = self._statistics(z)
        if self.statistic == "spe":
            score = spe
        elif self.statistic == "t2":
            score = t2
        else:
            score = spe / self.norm_[0] + t2 / self.norm_[1]
        return np.where(known, score, np.nan)

    def contributions(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> FloatMatrix:
        """Each feature's squared residual :math:`r_{ij}^2` (SPE only; Q is their sum).

        Raises
        ------
        NotImplementedError
            For ``statistic="t2"`` or ``"both"``: T² does not split over features.
        """
        if self.statistic != "spe":
            raise NotImplementedError(f"pca with statistic={self.statistic!r}")
        x = self._check_features(x, feature_names)
        z, _ = impute_rows(self.scaler_.transform(x, regime))
        squared: FloatMatrix = self._project(z)[1] ** 2
        return squared

    def to_artifact(self) -> Artifact:
        """Mean, loadings, variances and the scaler as an ``.npz``."""
        self.check_fitted()
        arrays = {
            **self.scaler_.to_arrays(),
            "mean": self.mean_,
            "components": self.components_,
            "variances": self.variances_,
            "norm": self.norm_,
        }
        return Artifact(
            model_type=self.model_type,
            params=self.get_params(),
            format="npz",
            payload=arrays_to_npz(arrays),
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
        model.mean_ = arrays["mean"]
        model.components_ = arrays["components"]
        model.variances_ = arrays["variances"]
        model.norm_ = arrays["norm"]
        model.feature_names_in_ = list(artifact.meta["feature_names"])
        return model


def _positive_median(values: npt.NDArray[np.float64]) -> float:
    median = float(np.median(values)) if values.size else 0.0
    return median if median > 0 else 1.0
