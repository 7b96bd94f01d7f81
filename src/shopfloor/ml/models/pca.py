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
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import FloatMatrix, register_model
from shopfloor.ml.models.scaled import ScaledAnomalyModel

__all__ = ["PCAModel"]

Statistic = Literal["spe", "t2", "both"]


@register_model
class PCAModel(ScaledAnomalyModel):
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

    def _fit_z(self, z: FloatMatrix) -> None:
        """Learn the principal components of the baseline's z-scores."""
        from sklearn.decomposition import PCA

        k = self.n_components
        if isinstance(k, int):
            k = min(k, z.shape[0], z.shape[1])
        pca = PCA(n_components=k, svd_solver="full").fit(z)
        self.mean_ = pca.mean_.astype(np.float64)
        self.components_ = pca.components_.astype(np.float64)
        # a component with no variance would divide by zero in T²
        self.variances_ = np.maximum(pca.explained_variance_.astype(np.float64), 1e-12)
        self.norm_ = np.ones(2)
        spe, t2 = self._statistics(z)
        self.norm_ = np.array([_positive_median(spe), _positive_median(t2)])

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

    def _score_z(self, z: FloatMatrix) -> npt.NDArray[np.float64]:
        """SPE, T² or their normalised sum per row."""
        spe, t2 = self._statistics(z)
        if self.statistic == "spe":
            return spe
        if self.statistic == "t2":
            return t2
        score: npt.NDArray[np.float64] = spe / self.norm_[0] + t2 / self.norm_[1]
        return score

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
        z, _ = self._z(x, regime)
        squared: FloatMatrix = self._project(z)[1] ** 2
        return squared

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Mean, loadings, variances and the statistics' normalisation."""
        return {
            "mean": self.mean_,
            "components": self.components_,
            "variances": self.variances_,
            "norm": self.norm_,
        }

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.mean_ = arrays["mean"]
        self.components_ = arrays["components"]
        self.variances_ = arrays["variances"]
        self.norm_ = arrays["norm"]


def _positive_median(values: npt.NDArray[np.float64]) -> float:
    median = float(np.median(values)) if values.size else 0.0
    return median if median > 0 else 1.0
