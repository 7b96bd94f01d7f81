r"""Why a model scored windows high: feature contributions, normal against anomalous spectra.

Feature contributions
---------------------
Each feature's share of the anomaly score of the most anomalous windows. A model type may
say how its own score splits over the features with ``contributions(x, regime=...,
feature_names=...)`` (non-negative, windows × features; see
:meth:`~shopfloor.ml.base.AnomalyModel.contributions`):

- ``robust_zscore``: :math:`|z_{ij}|`, the robust z-score of each feature (its score is
  their largest or RMS);
- ``pca`` with ``statistic="spe"``: :math:`r_{ij}^2`, each feature's part of the squared
  reconstruction error :math:`Q = \sum_j r_{ij}^2`.

For every other type (Isolation Forest, Gaussian mixture, River, ``pca`` with ``t2`` or
``both``) the default is the robust z-score of each feature against the healthy windows
the model learned from (per-regime median and MAD, :class:`~shopfloor.ml.scaling.RegimeScaler`):
a feature far from its healthy range is the likeliest reason for a high score, whatever
the model. Either way, with :math:`c_{ij} \ge 0` the contribution of feature :math:`j`
to window :math:`i` and :math:`T` the top windows (the highest finite scores, 5 % of the
windows, at least one),

.. math::

    \text{share}_j = \frac{1}{|T|} \sum_{i \in T} \frac{c_{ij}}{\sum_k c_{ik}}

so the shares add up to 1 (a missing value contributes 0).

Spectra
-------
When the features hold band powers (``band_power_hz.LO-HI`` of the ``features`` step,
with an optional ``.channel`` suffix), the median band power of the healthy windows and of
the top windows, against each band's centre frequency, draw a coarse normal against
anomalous spectrum (the first channel's bands). Without band features there is none.

Examples
--------
>>> import numpy as np
>>> from shopfloor.ml.models.isolation_forest import IsolationForestModel
>>> rng = np.random.default_rng(0)
>>> healthy = rng.uniform(-1, 1, size=(300, 2))
>>> model = IsolationForestModel(n_estimators=20).fit(healthy, feature_names=["rms", "kurtosis"])
>>> x = np.vstack([healthy, [[0.0, 9.0]]])
>>> shares = feature_contributions(model, x, baseline=healthy, top_fraction=0.001)
>>> max(shares, key=shares.get)
'kurtosis'
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import AnomalyModel, FloatMatrix
from shopfloor.ml.report import Spectra
from shopfloor.ml.scaling import RegimeScaler

__all__ = ["TOP_FRACTION", "band_spectra", "feature_contributions", "top_windows"]

TOP_FRACTION = 0.05
"""Share of the windows, highest scores first, whose contributions are averaged."""

_BAND = re.compile(r"^band_power_hz\.(?P<lo>[0-9.]+)-(?P<hi>[0-9.]+)(?:\.(?P<channel>.+))?$")

Regimes = Sequence[str | None] | None


def top_windows(scores: npt.ArrayLike, fraction: float = TOP_FRACTION) -> npt.NDArray[np.intp]:
    """Indices of the highest finite scores: ``fraction`` of the windows, at least one.

    Empty when no score is finite.
    """
    s = np.asarray(scores, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(s))
    if not finite.size:
        return finite
    count = max(1, math.ceil(fraction * s.size))
    order = finite[np.argsort(s[finite], kind="stable")[::-1]]
    return np.sort(order[:count])


def feature_contributions(
    model: AnomalyModel,
    x: FloatMatrix,
    *,
    regime: Regimes = None,
    baseline: FloatMatrix | None = None,
    baseline_regime: Regimes = None,
    scores: npt.ArrayLike | None = None,
    top_fraction: float = TOP_FRACTION,
) -> dict[str, float]:
    """Each feature's share of the score of the top windows (see the module docstring).

    Parameters
    ----------
    model
        A fitted anomaly model.
    x, regime
        The windows (rows × the model's features) and their regimes.
    baseline, baseline_regime
        The healthy windows the model learned from: the reference of the default
        (robust z-score) contributions. Needed unless the model type has its own.
    scores
        ``model``'s scores of ``x`` (computed when not given).
    top_fraction
        Share of the windows, highest scores first, to explain.

    Returns
    -------
    dict
        Feature name → share (adding up to 1); empty when no window has a finite score.

    Raises
    ------
    ModelError
        When the model has no contributions of its own and no baseline is given.
    """
    names = list(model.feature_names_in_)
    s = model.score(x, regime=regime) if scores is None else np.asarray(scores, dtype=np.float64)
    top = top_windows(s, top_fraction)
    if not top.size:
        return {}
    x_top = np.asarray(x, dtype=np.float64)[top]
    r_top = None if regime is None else [regime[i] for i in top]
    try:
        c = model.contributions(x_top, regime=r_top)
    except NotImplementedError:
        if baseline is None:
            raise ModelError(
                f"model type {model.model_type!r} has no contributions of its own: give the "
                "baseline windows it learned from"
            ) from None
        scaler = RegimeScaler().fit(np.asarray(baseline, dtype=np.float64), baseline_regime)
        c = np.abs(scaler.transform(x_top, r_top))
    c = np.where(np.isfinite(c), np.abs(c), 0.0)
    total = c.sum(axis=1, keepdims=True)
    shares = np.divide(c, total, out=np.zeros_like(c), where=total > 0).mean(axis=0)
    return {name: float(v) for name, v in zip(names, shares, strict=True)}


def band_spectra(
    feature_names: Sequence[str],
    units: dict[str, str],
    normal: FloatMatrix,
    anomalous: FloatMatrix,
) -> Spectra | None:
    """Median band powers of normal and anomalous windows against band centres.

    Parameters
    ----------
    feature_names, units
        The dataset's columns and their units.
    normal, anomalous
        Windows × columns of each kind.

    Returns
    -------
    Spectra or None
        ``None`` when fewer than two ``band_power_hz`` features (of one channel) exist
        or either set of windows is empty.
    """
    bands: list[tuple[float, int]] = []
    channel: str | None = None
    for j, name in enumerate(feature_names):
        match = _BAND.match(name)
        if match is None:
            continue
        if channel is None:
            channel = match["channel"] or ""
        if (match["channel"] or "") == channel:
            bands.append((0.5 * (float(match["lo"]) + float(match["hi"])), j))
    if len(bands) < 2 or not len(normal) or not len(anomalous):
        return None
    bands.sort()
    columns = [j for _, j in bands]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band without a finite value: NaN
        quiet = np.nanmedian(np.asarray(normal, dtype=np.float64)[:, columns], axis=0)
        loud = np.nanmedian(np.asarray(anomalous, dtype=np.float64)[:, columns], axis=0)
    return Spectra(
        np.array([f for f, _ in bands]),
        quiet,
        loud,
        unit=units.get(feature_names[columns[0]], ""),
    )
