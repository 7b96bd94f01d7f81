r"""Robust per-regime standardisation: the common input handling of the anomaly models.

Every anomaly model type first maps its raw features to robust z-scores, learned from
the healthy baseline separately for each operating regime:

.. math::

    z_{ij} = \frac{x_{ij} - m_{g(i)j}}{s_{g(i)j}}, \qquad
    m_{gj} = \operatorname{median}_{i \in g} x_{ij}, \qquad
    s_{gj} = 1.4826 \cdot \operatorname{median}_{i \in g} |x_{ij} - m_{gj}|

where :math:`g(i)` is the regime of row :math:`i`. The factor 1.4826 makes the MAD a
consistent estimate of the standard deviation for normal data. When the MAD is zero (more
than half the baseline equal), the interquartile range over 1.349 is used, and when that
is zero too, a small floor (:data:`SCALE_FLOOR` times ``max(1, |m|)``) keeps the division
finite: any departure from a constant baseline is then a very large ``z``.

Rows whose regime the baseline did not contain get ``NaN`` in every column (unknown,
never healthy). A model fitted without regimes is regime-agnostic: regimes given at
scoring are ignored.

Examples
--------
>>> import numpy as np
>>> scaler = RegimeScaler().fit(np.array([[1.0], [2.0], [3.0], [100.0]]))
>>> scaler.transform(np.array([[2.5]])).round(3).tolist()
[[0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError

__all__ = ["MAD_TO_SIGMA", "SCALE_FLOOR", "RegimeScaler", "impute_rows", "robust_center_scale"]

MAD_TO_SIGMA = 1.4826
"""Median absolute deviation → standard deviation, for normally distributed data."""

IQR_TO_SIGMA = 1.349
"""Interquartile range / this = standard deviation, for normally distributed data."""

SCALE_FLOOR = 1e-9
"""Smallest scale, relative to ``max(1, |centre|)``: a constant baseline column."""

FloatArray = npt.NDArray[np.float64]
RegimeKey = str | None


def robust_center_scale(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    r"""Column medians and robust scales of ``x`` (rows × columns), ignoring NaN.

    Parameters
    ----------
    x
        Baseline rows × feature columns; NaN entries are ignored.

    Returns
    -------
    center, scale
        :math:`m_j = \operatorname{median}_i x_{ij}` and
        :math:`s_j = 1.4826\,\operatorname{MAD}_j`, else :math:`\mathrm{IQR}_j / 1.349`,
        else :math:`10^{-9} \max(1, |m_j|)`. Both NaN for a column without a finite
        value.
    """
    x = np.asarray(x, dtype=np.float64)
    center = np.full(x.shape[1], np.nan)
    scale = np.full(x.shape[1], np.nan)
    finite_cols = np.isfinite(x).any(axis=0)
    if not finite_cols.any():
        return center, scale
    xs = np.where(np.isfinite(x[:, finite_cols]), x[:, finite_cols], np.nan)
    med = np.nanmedian(xs, axis=0)
    mad = MAD_TO_SIGMA * np.nanmedian(np.abs(xs - med), axis=0)
    q1, q3 = np.nanpercentile(xs, [25, 75], axis=0)
    iqr = (q3 - q1) / IQR_TO_SIGMA
    floor = SCALE_FLOOR * np.maximum(1.0, np.abs(med))
    s = np.where(mad > 0, mad, np.where(iqr > 0, iqr, floor))
    center[finite_cols] = med
    scale[finite_cols] = np.maximum(s, floor)
    return center, scale


def impute_rows(z: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Replace non-finite z-scores by 0 (the baseline median); flag rows with none finite.

    Returns
    -------
    filled, known
        A new matrix with NaN/inf replaced by ``0.0`` and a boolean per row: whether the
        row had at least one finite value (a row without is scored ``NaN``).
    """
    finite = np.isfinite(z)
    known: npt.NDArray[np.bool_] = np.asarray(finite.any(axis=1), dtype=bool)
    filled: FloatArray = np.where(finite, z, 0.0)
    return filled, known


class RegimeScaler:
    """Robust centre and scale per operating regime (see the module docstring).

    Attributes
    ----------
    regimes_
        The regimes learned, in first-seen order, or ``None`` when fitted without.
    center_, scale_
        Regimes × columns (one row when fitted without regimes).
    """

    regimes_: list[RegimeKey] | None
    center_: FloatArray
    scale_: FloatArray

    def fit(self, x: FloatArray, regime: Sequence[RegimeKey] | None = None) -> Self:
        """Learn centre and scale of each column, per regime when ``regime`` is given."""
        x = np.asarray(x, dtype=np.float64)
        if regime is None:
            self.regimes_ = None
            center, scale = robust_center_scale(x)
            self.center_, self.scale_ = center[None, :], scale[None, :]
            return self
        labels = _labels(regime, x.shape[0])
        self.regimes_ = list(dict.fromkeys(labels))
        centers, scales = [], []
        for key in self.regimes_:
            rows = np.array([label == key for label in labels], dtype=bool)
            c, s = robust_center_scale(x[rows])
            centers.append(c)
            scales.append(s)
        self.center_ = np.vstack(centers)
        self.scale_ = np.vstack(scales)
        return self

    def transform(self, x: FloatArray, regime: Sequence[RegimeKey] | None = None) -> FloatArray:
        """Robust z-scores of ``x`` (a new matrix); NaN rows for regimes not learned."""
        x = np.asarray(x, dtype=np.float64)
        if self.regimes_ is None:
            z: FloatArray = (x - self.center_[0]) / self.scale_[0]
            return z
        labels = _labels(regime, x.shape[0]) if regime is not None else [None] * x.shape[0]
        index = {key: i for i, key in enumerate(self.regimes_)}
        group = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
        known = group >= 0
        out = np.full(x.shape, np.nan)
        out[known] = (x[known] - self.center_[group[known]]) / self.scale_[group[known]]
        return out

    def to_arrays(self) -> dict[str, FloatArray]:
        """The learned arrays (for an ``.npz`` payload)."""
        return {"scaler_center": self.center_, "scaler_scale": self.scale_}

    def to_meta(self) -> dict[str, Any]:
        """The regimes (JSON) to keep beside the arrays."""
        return {"regimes": self.regimes_}

    def to_json(self) -> dict[str, Any]:
        """Everything as JSON (for artifacts whose payload is ONNX); floats round-trip."""
        return {
            "regimes": self.regimes_,
            "center": self.center_.tolist(),
            "scale": self.scale_.tolist(),
        }

    @classmethod
    def from_parts(
        cls, regimes: list[RegimeKey] | None, center: npt.ArrayLike, scale: npt.ArrayLike
    ) -> RegimeScaler:
        """Rebuild from :meth:`to_arrays`/:meth:`to_meta` or :meth:`to_json` parts."""
        scaler = cls()
        scaler.regimes_ = None if regimes is None else list(regimes)
        scaler.center_ = np.asarray(center, dtype=np.float64).reshape(len(regimes or [0]), -1)
        scaler.scale_ = np.asarray(scale, dtype=np.float64).reshape(len(regimes or [0]), -1)
        return scaler

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> RegimeScaler:
        """Rebuild from :meth:`to_json`."""
        return cls.from_parts(state["regimes"], state["center"], state["scale"])


def _labels(regime: Sequence[RegimeKey], n_rows: int) -> list[RegimeKey]:
    labels = [None if r is None else str(r) for r in regime]
    if len(labels) != n_rows:
        raise ModelError(f"regime: {len(labels)} labels for {n_rows} rows")
    return labels
