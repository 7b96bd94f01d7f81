r"""Frequency-domain features: amplitude and power spectra, Welch PSD, bands and shape.

Every function takes ``x`` shaped ``(..., n_samples)`` and works along the last axis.
One-sided spectra are scaled so that the numbers mean something physical:

* the **amplitude spectrum** :math:`A_k = 2|X_k| / \sum_n w_n` gives a tone's amplitude at
  its bin (half that at DC and Nyquist, which are not doubled);
* the **power spectrum** :math:`P_k = 2|X_k|^2 / (N\sum_n w_n^2)` is power per bin, in the
  unit of ``x`` squared, so that its sum over a band is the band's mean square (a tone of
  amplitude ``A`` inside the band gives :math:`A^2/2`, whatever the window).

with :math:`X_k = \sum_n w_n x_n e^{-2\pi i kn/N}` and window :math:`w` (Hann by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import scipy.fft
import scipy.signal
from numpy.typing import ArrayLike, NDArray

from shopfloor.features._arrays import FloatArray, as_signal, check_band, check_rate, safe_divide

__all__ = [
    "Spectrum",
    "amplitude_spectrum",
    "band_power",
    "band_power_from_spectrum",
    "find_spectral_peaks",
    "power_spectrum",
    "spectral_centroid",
    "spectral_kurtosis",
    "spectral_moments",
    "spectral_peaks",
    "spectral_spread",
    "welch_psd",
]


@lru_cache(maxsize=32)
def window_values(window: str, n_samples: int) -> FloatArray:
    """Return the periodic window ``window`` of length ``n_samples`` (cached, read-only)."""
    if window in ("boxcar", "rectangular", "none"):
        values = np.ones(n_samples)
    else:
        try:
            values = np.asarray(scipy.signal.get_window(window, n_samples), dtype=np.float64)
        except ValueError as err:
            raise ValueError(f"window {window!r} is not a scipy.signal window: {err}") from err
    values.setflags(write=False)
    return values


@dataclass(frozen=True)
class Spectrum:
    r"""The one-sided DFT of windowed signals, with the scalings derived from it.

    Build it with :meth:`of`; the features of :class:`~shopfloor.features.FeatureSet` share
    one instance per window function.

    Attributes
    ----------
    freqs_hz
        Bin frequencies, shape ``(n_samples // 2 + 1,)``.
    coefficients
        :math:`X_k`, shape ``(..., n_freqs)``.
    n_samples
        Window length :math:`N`.
    window_sum, window_power_sum
        :math:`\sum w_n` and :math:`\sum w_n^2`.
    window
        Name of the window.
    """

    freqs_hz: FloatArray
    coefficients: NDArray[np.complex128]
    n_samples: int
    window_sum: float
    window_power_sum: float
    window: str = "hann"

    @classmethod
    def of(cls, x: ArrayLike, sample_rate_hz: float, window: str = "hann") -> Spectrum:
        """Return the spectrum of ``x`` (time on the last axis) windowed by ``window``.

        Examples
        --------
        >>> t = np.arange(1000) / 1000
        >>> s = Spectrum.of(3.0 * np.cos(2 * np.pi * 50 * t), 1000.0)
        >>> float(s.amplitude[50].round(6)), float(s.power.sum().round(6))
        (3.0, 4.5)
        """
        arr = as_signal(x)
        fs = check_rate(sample_rate_hz)
        n = arr.shape[-1]
        w = window_values(window, n)
        coefficients = scipy.fft.rfft(arr * w, axis=-1)
        freqs = scipy.fft.rfftfreq(n, 1.0 / fs)
        return cls(freqs, coefficients, n, float(w.sum()), float(np.dot(w, w)), window)

    @cached_property
    def _one_sided(self) -> FloatArray:
        """Weights 2 for every bin but DC (and Nyquist for even ``N``), which get 1."""
        weights = np.full(self.freqs_hz.shape, 2.0)
        weights[0] = 1.0
        if self.n_samples % 2 == 0:
            weights[-1] = 1.0
        return weights

    @cached_property
    def magnitude_sq(self) -> FloatArray:
        """:math:`|X_k|^2`."""
        c = self.coefficients
        return c.real * c.real + c.imag * c.imag

    @cached_property
    def amplitude(self) -> FloatArray:
        """Amplitude spectrum, unit of the signal."""
        return np.sqrt(self.magnitude_sq) * (self._one_sided / self.window_sum)

    @cached_property
    def power(self) -> FloatArray:
        """Power per bin, unit of the signal squared; sums to the mean square."""
        return self.magnitude_sq * (self._one_sided / (self.n_samples * self.window_power_sum))

    def peaks(self, n_peaks: int) -> tuple[FloatArray, FloatArray]:
        """Return the top ``n_peaks`` peaks, as :func:`find_spectral_peaks` of the amplitude."""
        scale = self._one_sided / self.window_sum
        return _find_peaks(self.freqs_hz, self.magnitude_sq, n_peaks, self.window, scale)

    @property
    def resolution_hz(self) -> float:
        """Bin spacing, :math:`f_s / N`."""
        return float(self.freqs_hz[1] - self.freqs_hz[0]) if self.freqs_hz.size > 1 else 0.0


def amplitude_spectrum(
    x: ArrayLike, sample_rate_hz: float, window: str = "hann"
) -> tuple[FloatArray, FloatArray]:
    r"""Return ``(freqs_hz, amplitude)``, the windowed FFT amplitude spectrum.

    :math:`A_k = 2|X_k| / \sum_n w_n`: a tone of amplitude ``A`` on a bin reads ``A``
    (Hann loses up to 1.42 dB between bins). Unit: the unit of ``x``.

    Examples
    --------
    >>> t = np.arange(2000) / 1000
    >>> f, a = amplitude_spectrum(0.5 * np.sin(2 * np.pi * 120 * t), 1000.0)
    >>> float(f[np.argmax(a)]), float(a.max().round(6))
    (120.0, 0.5)
    """
    s = Spectrum.of(x, sample_rate_hz, window)
    return s.freqs_hz, s.amplitude


def power_spectrum(
    x: ArrayLike, sample_rate_hz: float, window: str = "hann"
) -> tuple[FloatArray, FloatArray]:
    r"""Return ``(freqs_hz, power)``, power per bin :math:`2|X_k|^2/(N\sum w_n^2)`.

    Sums to the mean square of ``x`` (exactly with ``window="boxcar"``, up to leakage of the
    mean otherwise). Unit: the unit of ``x`` squared.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> f, p = power_spectrum(2.0 * np.sin(2 * np.pi * 100 * t), 1000.0)
    >>> float(p.sum().round(6))
    2.0
    """
    s = Spectrum.of(x, sample_rate_hz, window)
    return s.freqs_hz, s.power


def welch_psd(
    x: ArrayLike,
    sample_rate_hz: float,
    segment_length: int | None = None,
    window: str = "hann",
    overlap: float = 0.5,
) -> tuple[FloatArray, FloatArray]:
    """Return ``(freqs_hz, psd)``, Welch's averaged periodogram (``scipy.signal.welch``).

    Parameters
    ----------
    x
        Signals, time on the last axis.
    sample_rate_hz
        Sample rate.
    segment_length
        Samples per segment; default the largest power of two not above ``n_samples / 4``
        (at least 8), which averages about 7 half-overlapping segments.
    window
        Window of each segment.
    overlap
        Fraction of a segment shared with the next, in ``[0, 1)``.

    Returns
    -------
    freqs_hz, psd
        Density in the unit of ``x`` squared per Hz; its integral is the mean square.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f, p = welch_psd(rng.normal(size=(2, 8192)), 1000.0)
    >>> p.shape, bool(abs(p.sum() * (f[1] - f[0]) / 2 - 1) < 0.1)
    ((2, 1025), True)
    """
    arr = as_signal(x, min_samples=8)
    fs = check_rate(sample_rate_hz)
    n = arr.shape[-1]
    if segment_length is None:
        segment_length = max(8, 1 << max(3, (n // 4).bit_length() - 1))
    if not 2 <= segment_length <= n:
        raise ValueError(f"segment_length must be in [2, {n}], got {segment_length!r}")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    freqs, psd = scipy.signal.welch(
        arr,
        fs=fs,
        window=window,
        nperseg=segment_length,
        noverlap=int(overlap * segment_length),
        detrend=False,
        scaling="density",
        axis=-1,
    )
    return np.asarray(freqs, dtype=np.float64), np.asarray(psd, dtype=np.float64)


def band_power_from_spectrum(
    freqs_hz: FloatArray, power: FloatArray, low_hz: ArrayLike, high_hz: ArrayLike
) -> FloatArray:
    """Return the sum of ``power`` over bins with ``low_hz <= f < high_hz``.

    ``low_hz`` and ``high_hz`` broadcast against ``power.shape[:-1]``, so each window can
    have its own band (bands in orders of a per-window shaft speed).
    """
    low = np.asarray(low_hz, dtype=np.float64)[..., None]
    high = np.asarray(high_hz, dtype=np.float64)[..., None]
    if low.ndim == 1 and high.ndim == 1:
        lo_i, hi_i = np.searchsorted(freqs_hz, [float(low[0]), float(high[0])], side="left")
        return np.asarray(np.sum(power[..., lo_i:hi_i], axis=-1), dtype=np.float64)
    inside = (freqs_hz >= low) & (freqs_hz < high)
    return np.asarray(np.einsum("...k,...k->...", power, inside), dtype=np.float64)


def band_power(
    x: ArrayLike, sample_rate_hz: float, band_hz: tuple[float, float], window: str = "hann"
) -> FloatArray:
    r"""Return the power of each window in ``band_hz``, :math:`\sum_{f_{lo}\le f_k<f_{hi}} P_k`.

    The mean square of the part of ``x`` in the band: a tone of amplitude ``A`` well inside
    the band gives :math:`A^2/2` (its main lobe, ±2 bins with Hann, must be inside).
    Unit: the unit of ``x`` squared.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> x = 2.0 * np.sin(2 * np.pi * 100 * t) + np.sin(2 * np.pi * 300 * t)
    >>> float(band_power(x, 1000.0, (50, 150)).round(6))
    2.0
    """
    low, high = check_band(band_hz)
    s = Spectrum.of(x, sample_rate_hz, window)
    return band_power_from_spectrum(s.freqs_hz, s.power, low, high)


def spectral_moments(
    freqs_hz: FloatArray, power: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Return centroid, spread and kurtosis of the power spectrum, read as a distribution.

    With :math:`p_k = P_k / \sum_j P_j`: centroid :math:`\mu = \sum_k f_k p_k` (Hz), spread
    :math:`\sigma = \sqrt{\sum_k (f_k-\mu)^2 p_k}` (Hz), kurtosis
    :math:`\sum_k (f_k-\mu)^4 p_k / \sigma^4` (dimensionless).
    """
    total = np.sum(power, axis=-1)
    centroid = safe_divide(power @ freqs_hz, total)
    d = freqs_hz - centroid[..., None]
    d2 = d * d
    spread_sq = safe_divide(np.einsum("...k,...k->...", power, d2), total)
    fourth = safe_divide(np.einsum("...k,...k->...", power, d2 * d2), total)
    return centroid, np.sqrt(spread_sq), safe_divide(fourth, spread_sq * spread_sq)


def spectral_centroid(x: ArrayLike, sample_rate_hz: float, window: str = "hann") -> FloatArray:
    r"""Return the power-weighted mean frequency :math:`\sum f_k P_k / \sum P_k`. Unit: Hz.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> x = np.sin(2 * np.pi * 100 * t) + np.sin(2 * np.pi * 300 * t)
    >>> float(spectral_centroid(x, 1000.0).round(6))
    200.0
    """
    s = Spectrum.of(x, sample_rate_hz, window)
    return spectral_moments(s.freqs_hz, s.power)[0]


def spectral_spread(x: ArrayLike, sample_rate_hz: float, window: str = "hann") -> FloatArray:
    r"""Return the power-weighted standard deviation of frequency around the centroid.

    :math:`\sqrt{\sum (f_k-\mu)^2 P_k / \sum P_k}`. Unit: Hz.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> x = np.sin(2 * np.pi * 100 * t) + np.sin(2 * np.pi * 300 * t)
    >>> float(spectral_spread(x, 1000.0).round(2))
    100.0
    """
    s = Spectrum.of(x, sample_rate_hz, window)
    return spectral_moments(s.freqs_hz, s.power)[1]


def spectral_kurtosis(x: ArrayLike, sample_rate_hz: float, window: str = "hann") -> FloatArray:
    r"""Return the kurtosis of the power spectrum read as a distribution over frequency.

    :math:`\sum (f_k-\mu)^4 P_k / (\sigma^4 \sum P_k)`: a spectral-*shape* statistic (1 for
    two equal tones, 1.8 for flat noise), not Antoni's spectral kurtosis of a band's
    envelope; that one is :func:`~shopfloor.features.fast_kurtogram`. Dimensionless.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> x = np.sin(2 * np.pi * 100 * t) + np.sin(2 * np.pi * 300 * t)
    >>> float(spectral_kurtosis(x, 1000.0).round(3))
    1.0
    """
    s = Spectrum.of(x, sample_rate_hz, window)
    return spectral_moments(s.freqs_hz, s.power)[2]


def find_spectral_peaks(
    freqs_hz: FloatArray, amplitude: FloatArray, n_peaks: int, window: str = "hann"
) -> tuple[FloatArray, FloatArray]:
    r"""Return the ``n_peaks`` largest local maxima of ``amplitude``, largest first.

    A local maximum is a bin above its left neighbour and not below its right one. Its
    frequency and height are refined from its neighbours: for ``window="hann"`` exactly for
    an isolated tone (the ratio :math:`r` of the larger neighbour to the peak bin gives the
    offset :math:`\delta = (2r-1)/(r+1)` bins and the height is divided by the Hann kernel
    :math:`\mathrm{sinc}(\delta)/(1-\delta^2)`); for other windows by a parabola through
    the log amplitudes (exact for a Gaussian lobe). Missing peaks (fewer maxima than
    ``n_peaks``) are NaN.

    Returns
    -------
    freqs_hz, amplitude
        Shaped ``(..., n_peaks)``.
    """
    return _find_peaks(freqs_hz, amplitude, n_peaks, window, None)


def _find_peaks(
    freqs_hz: FloatArray,
    values: FloatArray,
    n_peaks: int,
    window: str,
    power_scale: FloatArray | None,
) -> tuple[FloatArray, FloatArray]:
    """Peaks of ``values``: amplitudes, or squared magnitudes when ``power_scale`` is given.

    Squared magnitudes rank peaks the same way; only the three bins around each peak are
    turned into amplitudes (``sqrt(values) * power_scale``), which spares a square root
    over the whole spectrum.
    """
    if not isinstance(n_peaks, int | np.integer) or n_peaks < 1:
        raise ValueError(f"n_peaks must be a positive integer, got {n_peaks!r}")
    a = values
    shape = (*a.shape[:-1], n_peaks)
    if a.shape[-1] < 3:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    inner = a[..., 1:-1]
    is_max = (inner > a[..., :-2]) & (inner >= a[..., 2:])
    score = np.where(is_max, inner, -np.inf)
    k = min(n_peaks, score.shape[-1])
    top = np.argpartition(-score, k - 1, axis=-1)[..., :k]
    top_score = np.take_along_axis(score, top, axis=-1)
    # Largest first; equal heights by frequency, so the order never depends on the batch.
    order = np.lexsort((top, -top_score), axis=-1)
    top = np.take_along_axis(top, order, axis=-1) + 1
    found = np.isfinite(np.take_along_axis(score, top - 1, axis=-1))
    left, centre, right = (np.take_along_axis(a, top + d, axis=-1) for d in (-1, 0, 1))
    if power_scale is not None:
        left, centre, right = (
            np.sqrt(v) * power_scale[top + d] for v, d in ((left, -1), (centre, 0), (right, 1))
        )
    if window == "hann":
        toward_right = right >= left
        ratio = safe_divide(np.where(toward_right, right, left), centre)
        offset = np.clip(safe_divide(2 * ratio - 1, ratio + 1), 0.0, 0.5)
        offset = np.where(np.isfinite(offset), offset, 0.0)
        delta = np.where(toward_right, offset, -offset)
        height = centre * (1 - offset * offset) / np.sinc(offset)
    else:
        tiny = np.finfo(np.float64).tiny
        log_l, log_c, log_r = (np.log(np.maximum(v, tiny)) for v in (left, centre, right))
        delta = safe_divide(0.5 * (log_l - log_r), log_l - 2 * log_c + log_r)
        delta = np.where(np.isfinite(delta), np.clip(delta, -0.5, 0.5), 0.0)
        height = np.exp(log_c - 0.25 * (log_l - log_r) * delta)
    df = freqs_hz[1] - freqs_hz[0]
    peak_freqs = freqs_hz[top] + delta * df
    out_f = np.full(shape, np.nan)
    out_a = np.full(shape, np.nan)
    out_f[..., :k] = np.where(found, peak_freqs, np.nan)
    out_a[..., :k] = np.where(found, height, np.nan)
    return out_f, out_a


def spectral_peaks(
    x: ArrayLike, sample_rate_hz: float, n_peaks: int = 3, window: str = "hann"
) -> tuple[FloatArray, FloatArray]:
    """Return frequencies (Hz) and amplitudes (unit of ``x``) of the top ``n_peaks`` peaks.

    Peaks of the amplitude spectrum, largest first, with frequency and amplitude
    interpolated between bins (see :func:`find_spectral_peaks`), shaped ``(..., n_peaks)``.

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> x = 2.0 * np.sin(2 * np.pi * 80.3 * t) + np.sin(2 * np.pi * 200 * t)
    >>> f, a = spectral_peaks(x, 1000.0, n_peaks=2)
    >>> f.round(1).tolist(), a.round(1).tolist()
    ([80.3, 200.0], [2.0, 1.0])
    """
    s = Spectrum.of(x, sample_rate_hz, window)
    return find_spectral_peaks(s.freqs_hz, s.amplitude, n_peaks, window)
