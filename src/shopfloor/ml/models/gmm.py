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

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

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

__all__ = ["GaussianMixtureModel"]

CovarianceType = Literal["full", "tied", "diag", "spherical"]
_LEARNED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


@register_model
class GaussianMixtureModel(AnomalyModel):
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

    scaler_: RegimeScaler
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

    def fit(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Fit the mixture to the baseline's z-scores."""
        x = self._set_features(x, feature_names)
        scaler = RegimeScaler().fit(x, regime)
        z, known = impute_rows(scaler.transform(x, regime))
        if known.sum() < max(2, self.n_components):
            raise ModelError(
                f"gmm: {int(known.sum())} baseline row(s) with a finite value for "
                f"{self.n_components} component(s); need at least {max(2, self.n_components)}"
            )
        try:
            self.mixture_ = self._mixture().fit(z[known])
        except ValueError as err:
            raise ModelError(f"gmm: {err}") from err
        self.scaler_ = scaler
        return self

    def score(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Negative log-likelihood of each row; NaN when unknown."""
        x = self._check_features(x, feature_names)
        z, known = impute_rows(self.scaler_.transform(x, regime))
        score = np.full(x.shape[0], np.nan)
        if known.any():
            score[known] = -self.mixture_.score_samples(z[known])
        return score

    def to_artifact(self) -> Artifact:
        """Weights, means, covariances, precisions and the scaler as an ``.npz``."""
        self.check_fitted()
        arrays = {name: getattr(self.mixture_, name) for name in _LEARNED}
        return Artifact(
            model_type=self.model_type,
            params=self.get_params(),
            format="npz",
            payload=arrays_to_npz({**self.scaler_.to_arrays(), **arrays}),
            meta={"feature_names": self.feature_names_in_, **self.scaler_.to_meta()},
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact` (the arrays go back on a GaussianMixture)."""
        arrays = npz_to_arrays(artifact.payload)
        model = cls(**artifact.params)
        model.scaler_ = RegimeScaler.from_parts(
            artifact.meta["regimes"], arrays["scaler_center"], arrays["scaler_scale"]
        )
        mixture = model._mixture()
        for name in _LEARNED:
            setattr(mixture, name, arrays[name])
        mixture.n_features_in_ = arrays["means_"].shape[1]
        mixture.converged_ = True
        model.mixture_ = mixture
        model.feature_names_in_ = list(artifact.meta["feature_names"])
        return model
