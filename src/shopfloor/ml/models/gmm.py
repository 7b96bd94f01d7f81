r"""``gmm``: a Gaussian mixture of the healthy baseline; the score is the negative log-likelihood.

Inputs are robust per-regime z-scores :math:`z` (missing values become 0, the baseline
median). scikit-learn's GaussianMixture learns weights :math:`\pi_k`, means
:math:`\mu_k` and covariances :math:`\Sigma_k`; a window scores

.. math::

    s(z) = -\log \sum_k \pi_k \, \mathcal{N}(z \mid \mu_k, \Sigma_k)

(higher is less like the baseline). The learned arrays are stored in an ``.npz`` and put
back on a GaussianMixture when loaded, so the fitted and the reloaded model run the same
float64 computation.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(300, 2))
>>> model = GaussianMixtureModel(n_components=1).fit(x)
>>> bool(model.score(np.array([[5.0, 5.0]]))[0] > model.score(np.array([[0.0, 0.0]]))[0])
True
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import FloatMatrix, register_model
from shopfloor.ml.models.scaled import ScaledAnomalyModel

__all__ = ["GaussianMixtureModel"]

CovarianceType = Literal["full", "tied", "diag", "spherical"]
_LEARNED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


@register_model
class GaussianMixtureModel(ScaledAnomalyModel):
    """Gaussian mixture negative log-likelihood on robust z-scores.

    Parameters
    ----------
    n_components
        Number of Gaussian components (e.g. one per unlabelled operating mode).
    covariance_type
        ``"full"`` (default), ``"tied"``, ``"diag"`` or ``"spherical"``, as scikit-learn's.
    reg_covar
        Added to the covariance diagonals, keeps a near-constant feature from dominating.
    random_state
        Seed of the k-means initialisation.
    """

    model_type: ClassVar[str] = "gmm"

    mixture_: Any

    def __init__(
        self,
        n_components: int = 2,
        covariance_type: CovarianceType = "full",
        reg_covar: float = 1e-6,
        random_state: int = 0,
    ) -> None:
        if not isinstance(n_components, int) or n_components < 1:
            raise ModelError(f"gmm: n_components must be an integer ≥ 1, got {n_components!r}")
        if covariance_type not in ("full", "tied", "diag", "spherical"):
            raise ModelError(
                "gmm: covariance_type must be full, tied, diag or spherical, "
                f"got {covariance_type!r}"
            )
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.random_state = random_state

    def _mixture(self) -> Any:
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            random_state=self.random_state,
        )

    def _min_rows(self) -> int:
        return max(2, self.n_components)

    def _fit_z(self, z: FloatMatrix) -> None:
        """Fit the mixture to the baseline's z-scores."""
        self.mixture_ = self._mixture().fit(z)

    def _score_z(self, z: FloatMatrix) -> npt.NDArray[np.float64]:
        """Negative log-likelihood of each row."""
        score: npt.NDArray[np.float64] = -self.mixture_.score_samples(z)
        return score

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Weights, means, covariances and precisions."""
        return {name: getattr(self.mixture_, name) for name in _LEARNED}

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """The arrays go back on a GaussianMixture."""
        mixture = self._mixture()
        for name in _LEARNED:
            setattr(mixture, name, arrays[name])
        mixture.n_features_in_ = arrays["means_"].shape[1]
        mixture.converged_ = True
        self.mixture_ = mixture
