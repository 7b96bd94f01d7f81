"""Argument checks and array plumbing shared by the feature modules (private).

Every public function of :mod:`shopfloor.features` takes signals shaped ``(..., n_samples)``
with time on the last axis; these helpers turn the argument into a float64 array and check
the scalars that go with it, with errors that name the parameter and the value received.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
"""A float64 numpy array: the type of every signal and every feature value."""


def as_signal(x: ArrayLike, name: str = "x", min_samples: int = 2) -> FloatArray:
    """Return ``x`` as a float64 array with at least ``min_samples`` on the last axis."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] < min_samples:
        raise ValueError(
            f"{name} must have time on the last axis with at least {min_samples} samples, "
            f"got shape {arr.shape}"
        )
    return arr


def check_rate(sample_rate_hz: float, name: str = "sample_rate_hz") -> float:
    """Return ``sample_rate_hz`` as a float when it is finite and positive."""
    try:
        value = float(sample_rate_hz)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a positive number, got {sample_rate_hz!r}") from err
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {sample_rate_hz!r}")
    return value


def check_band(band_hz: tuple[float, float], name: str = "band_hz") -> tuple[float, float]:
    """Return a ``(low, high)`` pair of floats with ``0 <= low < high``."""
    try:
        low, high = (float(v) for v in band_hz)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a (low, high) pair, got {band_hz!r}") from err
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high <= low:
        raise ValueError(f"{name} must satisfy 0 <= low < high, got {band_hz!r}")
    return low, high


def as_positive(value: ArrayLike, name: str) -> FloatArray:
    """Return ``value`` as a float64 array whose entries are all finite and positive."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and positive, got {value!r}")
    return arr


def safe_divide(num: FloatArray, den: FloatArray) -> FloatArray:
    """Return ``num / den`` with NaN where ``den`` is zero (a flat or empty signal)."""
    out = np.full(np.broadcast_shapes(np.shape(num), np.shape(den)), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out
