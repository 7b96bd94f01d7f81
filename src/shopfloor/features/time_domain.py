r"""Time-domain statistics of vibration windows.

Every function takes ``x`` shaped ``(..., n_samples)`` (time on the last axis) and returns
one value per window, shaped ``(...)``, as float64. Amplitude features keep the unit of
``x``; ratios are dimensionless. A flat (all-zero) window gives NaN for the ratios, never
a warning.

Notation: :math:`N` samples :math:`x_n`, :math:`\bar x` their mean,
:math:`m_k = \frac1N\sum_n (x_n-\bar x)^k` the central moments.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from shopfloor.features._arrays import FloatArray, as_signal, check_rate, safe_divide

__all__ = [
    "clearance_factor",
    "crest_factor",
    "impulse_factor",
    "kurtosis",
    "mean",
    "peak",
    "peak_to_peak",
    "rms",
    "shape_factor",
    "skewness",
    "zero_crossing_rate",
]


def _f64(value: object) -> FloatArray:
    """Return ``value`` as a float64 array (no copy when it already is one)."""
    return np.asarray(value, dtype=np.float64)


class TimeStats:
    """The moments the time-domain features share, each computed once (package-private).

    :class:`~shopfloor.features.FeatureSet` asks for several features of the same windows;
    this object lets it pay for the mean, the centred moments and the extrema once.
    """

    def __init__(self, x: FloatArray) -> None:
        self.x = x

    @cached_property
    def mean(self) -> FloatArray:
        return _f64(np.mean(self.x, axis=-1))

    @cached_property
    def _centred_sq(self) -> tuple[FloatArray, FloatArray]:
        d = self.x - self.mean[..., None]
        return d, d * d

    @cached_property
    def m2(self) -> FloatArray:
        return _f64(np.mean(self._centred_sq[1], axis=-1))

    @cached_property
    def m3(self) -> FloatArray:
        d, d2 = self._centred_sq
        return _f64(np.einsum("...n,...n->...", d2, d) / self.x.shape[-1])

    @cached_property
    def m4(self) -> FloatArray:
        d2 = self._centred_sq[1]
        return _f64(np.einsum("...n,...n->...", d2, d2) / self.x.shape[-1])

    @cached_property
    def rms(self) -> FloatArray:
        return _f64(np.sqrt(np.einsum("...n,...n->...", self.x, self.x) / self.x.shape[-1]))

    @cached_property
    def max(self) -> FloatArray:
        return _f64(np.max(self.x, axis=-1))

    @cached_property
    def min(self) -> FloatArray:
        return _f64(np.min(self.x, axis=-1))

    @cached_property
    def peak(self) -> FloatArray:
        return _f64(np.maximum(self.max, -self.min) + 0.0)  # + 0.0: no -0.0

    @cached_property
    def _abs(self) -> FloatArray:
        return np.abs(self.x)

    @cached_property
    def mean_abs(self) -> FloatArray:
        return _f64(np.mean(self._abs, axis=-1))

    @cached_property
    def mean_sqrt_abs(self) -> FloatArray:
        return _f64(np.mean(np.sqrt(self._abs), axis=-1))

    def kurtosis(self) -> FloatArray:
        return safe_divide(self.m4, self.m2 * self.m2)

    def skewness(self) -> FloatArray:
        return safe_divide(self.m3, self.m2**1.5)

    def crest_factor(self) -> FloatArray:
        return safe_divide(self.peak, self.rms)

    def shape_factor(self) -> FloatArray:
        return safe_divide(self.rms, self.mean_abs)

    def impulse_factor(self) -> FloatArray:
        return safe_divide(self.peak, self.mean_abs)

    def clearance_factor(self) -> FloatArray:
        return safe_divide(self.peak, self.mean_sqrt_abs**2)

    def zero_crossings(self) -> FloatArray:
        negative = self._centred_sq[0] < 0
        count = np.count_nonzero(negative[..., 1:] != negative[..., :-1], axis=-1)
        return np.where(np.isnan(self.mean), np.nan, count.astype(np.float64))


def mean(x: ArrayLike) -> FloatArray:
    r"""Return the mean of each window, :math:`\bar x = \frac1N\sum_n x_n`.

    Unit: the unit of ``x``.

    Examples
    --------
    >>> mean([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]])
    array([2., 1.])
    """
    return TimeStats(as_signal(x)).mean


def rms(x: ArrayLike) -> FloatArray:
    r"""Return the root mean square of each window, :math:`\sqrt{\frac1N\sum_n x_n^2}`.

    The mean is not removed (accelerometers are AC-coupled). A tone of amplitude ``A`` over
    whole periods gives ``A/√2``. Unit: the unit of ``x``.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> float(np.round(rms(2.0 * np.sin(2 * np.pi * 50 * t)), 6))
    1.414214
    """
    return TimeStats(as_signal(x)).rms


def peak(x: ArrayLike) -> FloatArray:
    r"""Return the largest absolute value of each window, :math:`\max_n |x_n|`.

    Unit: the unit of ``x``.

    Examples
    --------
    >>> peak([1.0, -3.0, 2.0])
    array(3.)
    """
    return TimeStats(as_signal(x)).peak


def peak_to_peak(x: ArrayLike) -> FloatArray:
    r"""Return :math:`\max_n x_n - \min_n x_n` of each window. Unit: the unit of ``x``.

    Examples
    --------
    >>> peak_to_peak([1.0, -3.0, 2.0])
    array(5.)
    """
    s = TimeStats(as_signal(x))
    return _f64(s.max - s.min)


def crest_factor(x: ArrayLike) -> FloatArray:
    r"""Return peak over RMS, :math:`\max|x| / x_{rms}`: √2 for a tone. Dimensionless.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> float(np.round(crest_factor(np.sin(2 * np.pi * 50 * t)), 6))
    1.414214
    """
    return TimeStats(as_signal(x)).crest_factor()


def kurtosis(x: ArrayLike) -> FloatArray:
    """Return the (Pearson, not excess) kurtosis :math:`m_4 / m_2^2` of each window.

    1.5 for a tone, 3 for Gaussian noise, large for impacts. Dimensionless and invariant to
    scale and offset.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> float(np.round(kurtosis(np.sin(2 * np.pi * 50 * t)), 6))
    1.5
    """
    return TimeStats(as_signal(x)).kurtosis()


def skewness(x: ArrayLike) -> FloatArray:
    """Return the skewness :math:`m_3 / m_2^{3/2}` of each window. Dimensionless.

    Examples
    --------
    >>> float(skewness([0.0, 0.0, 0.0, 1.0]).round(4))
    1.1547
    """
    return TimeStats(as_signal(x)).skewness()


def shape_factor(x: ArrayLike) -> FloatArray:
    r"""Return RMS over mean absolute value, :math:`x_{rms} / \overline{|x|}`. Dimensionless.

    :math:`\pi / (2\sqrt2) \approx 1.1107` for a tone.

    Examples
    --------
    >>> t = np.arange(10000) / 10000
    >>> float(np.round(shape_factor(np.sin(2 * np.pi * 50 * t)), 3))
    1.111
    """
    return TimeStats(as_signal(x)).shape_factor()


def impulse_factor(x: ArrayLike) -> FloatArray:
    r"""Return peak over mean absolute value, :math:`\max|x| / \overline{|x|}`.

    :math:`\pi/2` for a tone. Dimensionless.

    Examples
    --------
    >>> t = np.arange(10000) / 10000
    >>> float(np.round(impulse_factor(np.sin(2 * np.pi * 50 * t)), 3))
    1.571
    """
    return TimeStats(as_signal(x)).impulse_factor()


def clearance_factor(x: ArrayLike) -> FloatArray:
    r"""Return :math:`\max|x| / \big(\frac1N\sum_n \sqrt{|x_n|}\big)^2`. Dimensionless.

    About 1.7188 for a tone (:math:`1/(\frac{2}{\pi}\int_0^{\pi/2}\sqrt{\sin u}\,du)^2`).

    Examples
    --------
    >>> float(clearance_factor([1.0, -1.0, 1.0, -1.0]))
    1.0
    """
    return TimeStats(as_signal(x)).clearance_factor()


def zero_crossing_rate(x: ArrayLike, sample_rate_hz: float) -> FloatArray:
    r"""Return the number of mean crossings per second of each window.

    Counts sign changes of :math:`x_n - \bar x` between consecutive samples (a sample equal
    to the mean counts as positive) and divides by the window's span
    :math:`(N-1)/f_s`. A tone of frequency ``f`` gives about ``2 f``. Unit: Hz.

    Examples
    --------
    >>> t = np.arange(10000) / 1000
    >>> float(zero_crossing_rate(np.sin(2 * np.pi * 50 * t + 0.1), 1000.0).round(1))
    99.9
    """
    arr = as_signal(x)
    fs = check_rate(sample_rate_hz)
    return _f64(TimeStats(arr).zero_crossings() * (fs / (arr.shape[-1] - 1)))
