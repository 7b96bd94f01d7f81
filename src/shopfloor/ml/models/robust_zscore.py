r"""``robust_zscore``: per-regime median / MAD z-scores, the score is their largest ``|z|``.

The baseline gives each feature, in each operating regime, a robust centre and scale
(:class:`~shopfloor.ml.scaling.RegimeScaler`): an outlier-heavy baseline does not inflate
the scale as a standard deviation would. A window scores

.. math::

    s_i = \max_j |z_{ij}| \quad (\texttt{aggregate="max"}) \qquad\text{or}\qquad
    s_i = \sqrt{\tfrac{1}{p_i} \sum_j z_{ij}^2} \quad (\texttt{aggregate="rms"})

over its :math:`p_i` finite z-scores. A window whose regime the baseline did not contain,
or with no finite feature, scores ``NaN`` (unknown, never healthy).

Examples
--------
>>> import numpy as np
>>> model = RobustZScore().fit(np.array([[1.0], [2.0], [3.0]]), feature_names=["rms"])
>>> model.score(np.array([[2.0], [5.0]])).round(2).tolist()
[0.0, 2.02]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import FloatMatrix, register_model
from shopfloor.ml.models.scaled import ScalerArtifactModel
from shopfloor.ml.scaling import RegimeScaler

__all__ = ["RobustZScore"]

Aggregate = Literal["max", "rms"]


@register_model
class RobustZScore(ScalerArtifactModel):
    """Robust per-regime z-scores against the healthy baseline.

    Parameters
    ----------
    aggregate
        ``"max"`` (the largest ``|z|``, default) or ``"rms"`` (root mean square of the
        finite z-scores of the row).
    """

    model_type: ClassVar[str] = "robust_zscore"

    def __init__(self, aggregate: Aggregate = "max") -> None:
        if aggregate not in ("max", "rms"):
            raise ModelError(f"robust_zscore: aggregate must be max or rms, got {aggregate!r}")
        self.aggregate = aggregate

    def fit(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Learn the median and MAD of each feature in each regime."""
        x = self._set_features(x, feature_names)
        if x.shape[0] == 0:
            raise ModelError("robust_zscore: no baseline rows to learn from")
        self.scaler_ = RegimeScaler().fit(x, regime)
        return self

    def score(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Largest (or RMS) finite ``|z|`` of each row; NaN when unknown."""
        x = self._check_features(x, feature_names)
        z = np.abs(self.scaler_.transform(x, regime))
        finite = np.isfinite(z)
        count = finite.sum(axis=1)
        z0 = np.where(finite, z, 0.0)
        if self.aggregate == "max":
            score = z0.max(axis=1, initial=0.0)
        else:
            score = np.sqrt((z0**2).sum(axis=1) / np.maximum(count, 1))
        return np.where(count > 0, score, np.nan)

    def contributions(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> FloatMatrix:
        """``|z|`` of each feature: the terms the score is the largest (or RMS) of."""
        x = self._check_features(x, feature_names)
        z: FloatMatrix = np.abs(self.scaler_.transform(x, regime))
        return z
