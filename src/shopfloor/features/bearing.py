r"""Bearing defect frequencies and the amplitudes found at them in a spectrum.

The defect frequencies follow from the geometry (:class:`shopfloor.model.BearingGeometry`,
as orders) times the shaft speed. Real lines sit a little off the computed ones (slip,
speed error, contact angle under load), so each amplitude is the **largest bin within a
tolerance band** :math:`|f - h f_d| \le \max(\text{tol}\cdot h f_d,\ \text{min\_bins}\cdot
\Delta f)` around harmonic :math:`h` of defect frequency :math:`f_d`.

All functions take a spectrum ``(freqs_hz, amplitude)`` with ``amplitude`` shaped
``(..., n_freqs)`` on a uniform grid from 0 Hz, and target frequencies that broadcast to
``amplitude.shape[:-1]`` (one shaft speed per window).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from shopfloor.features._arrays import FloatArray, as_positive, safe_divide
from shopfloor.model import BearingGeometry

__all__ = [
    "DEFECTS",
    "defect_amplitudes",
    "defect_frequencies_hz",
    "local_noise_floor",
    "peak_near",
    "sideband_amplitudes",
]

DEFECTS = ("bpfo", "bpfi", "bsf", "ftf")
"""Defect frequency names: outer race, inner race, ball spin, cage (fundamental train)."""


def defect_frequencies_hz(bearing: BearingGeometry, shaft_hz: ArrayLike) -> dict[str, FloatArray]:
    """Return BPFO, BPFI, BSF and FTF in Hz for the shaft speed ``shaft_hz`` (any shape).

    Examples
    --------
    CWRU's drive-end 6205 at 1797 rpm:

    >>> b = BearingGeometry(n_elements=9, element_diameter_mm=7.94,
    ...                     pitch_diameter_mm=39.04)
    >>> {k: round(float(v), 1) for k, v in defect_frequencies_hz(b, 1797 / 60).items()}
    {'bpfo': 107.4, 'bpfi': 162.2, 'bsf': 70.6, 'ftf': 11.9}
    """
    shaft = as_positive(shaft_hz, "shaft_hz")
    return {
        "bpfo": shaft * bearing.bpfo_order,
        "bpfi": shaft * bearing.bpfi_order,
        "bsf": shaft * bearing.bsf_order,
        "ftf": shaft * bearing.ftf_order,
    }


def _gather(
    freqs_hz: FloatArray, amplitude: FloatArray, target_hz: FloatArray, half_width_hz: FloatArray
) -> FloatArray:
    """Return the bins within ``half_width_hz`` of each target, NaN-padded.

    ``amplitude`` is ``(..., n_freqs)``; ``target_hz`` and ``half_width_hz`` are
    ``(..., n_targets)``; the result is ``(..., n_targets, width)``. The width is the widest
    search band of the call; bins beyond each band's own edges are NaN, so the result never
    depends on what else is in the batch.
    """
    n_f = amplitude.shape[-1]
    df = float(freqs_hz[1] - freqs_hz[0])
    lo = np.ceil((target_hz - half_width_hz) / df - 1e-9)
    hi = np.floor((target_hz + half_width_hz) / df + 1e-9)
    finite = np.isfinite(lo) & np.isfinite(hi)
    width = int(np.max(np.where(finite, hi - lo, 0), initial=0)) + 1
    lo = np.where(finite, lo, 0.0)
    idx = lo[..., None] + np.arange(width)
    valid = (idx <= hi[..., None]) & (idx >= 0) & (idx < n_f) & finite[..., None]
    safe_idx = np.clip(idx, 0, n_f - 1).astype(np.intp)
    values = np.take_along_axis(amplitude[..., None, :], safe_idx, axis=-1)
    return np.where(valid, values, np.nan)


def _half_width(
    freqs_hz: FloatArray, target_hz: FloatArray, tolerance: float, min_bins: float
) -> FloatArray:
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a fraction >= 0, got {tolerance!r}")
    df = float(freqs_hz[1] - freqs_hz[0])
    return np.maximum(tolerance * target_hz, min_bins * df)


def _targets(amplitude: FloatArray, target_hz: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast ``amplitude`` (..., F) and ``target_hz`` (...) to common leading dims."""
    target = np.asarray(target_hz, dtype=np.float64)
    leading = np.broadcast_shapes(amplitude.shape[:-1], target.shape)
    amp = np.broadcast_to(amplitude, (*leading, amplitude.shape[-1]))
    return amp, np.broadcast_to(target, leading)


def peaks_at(
    freqs_hz: FloatArray,
    amplitude: FloatArray,
    target_hz: FloatArray,
    half_width_hz: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Return peak value and frequency in each band; targets shaped ``(..., n_targets)``."""
    values = _gather(freqs_hz, amplitude, target_hz, half_width_hz)
    filled = np.where(np.isnan(values), -np.inf, values)
    best = np.argmax(filled, axis=-1)
    peak = np.take_along_axis(values, best[..., None], axis=-1)[..., 0]
    df = float(freqs_hz[1] - freqs_hz[0])
    lo = np.ceil((target_hz - half_width_hz) / df - 1e-9)
    return peak, np.where(np.isnan(peak), np.nan, (lo + best) * df)


def medians_at(
    freqs_hz: FloatArray,
    amplitude: FloatArray,
    target_hz: FloatArray,
    half_width_hz: FloatArray,
) -> FloatArray:
    """Return the median in each band (NaN when empty); targets ``(..., n_targets)``."""
    values = np.sort(_gather(freqs_hz, amplitude, target_hz, half_width_hz), axis=-1)
    count = np.count_nonzero(~np.isnan(values), axis=-1)
    lo = np.maximum((count - 1) // 2, 0)[..., None]
    hi = np.maximum(count // 2, 0)[..., None]
    med = (
        0.5
        * (np.take_along_axis(values, lo, axis=-1) + np.take_along_axis(values, hi, axis=-1))[
            ..., 0
        ]
    )
    return np.where(count > 0, med, np.nan)


def peak_near(
    freqs_hz: FloatArray,
    amplitude: FloatArray,
    target_hz: ArrayLike,
    tolerance: float = 0.02,
    min_bins: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Return ``(amplitude, freq_hz)`` of the largest bin near ``target_hz``.

    The search band is ``target ± max(tolerance * target, min_bins * df)``; NaN where it
    lies outside the spectrum.

    Examples
    --------
    >>> f = np.arange(0, 500.0)
    >>> a = np.zeros((2, 500))
    >>> a[0, 102], a[1, 150] = 3.0, 4.0
    >>> peak_near(f, a, [100.0, 100.0])
    (array([3., 0.]), array([102.,  98.]))
    """
    amp, target = _targets(amplitude, target_hz)
    half = _half_width(freqs_hz, target, tolerance, min_bins)
    peak, freq = peaks_at(freqs_hz, amp, target[..., None], half[..., None])
    return peak[..., 0], freq[..., 0]


def local_noise_floor(
    freqs_hz: FloatArray,
    amplitude: FloatArray,
    target_hz: ArrayLike,
    width: float = 0.1,
    min_bins: float = 8.0,
) -> FloatArray:
    """Return the median of ``amplitude`` within ``target ± max(width * target, min_bins*df)``.

    The median ignores the few bins of a line, so ``peak / floor`` reads as a
    signal-to-noise ratio. NaN where the band lies outside the spectrum.

    Examples
    --------
    >>> f = np.arange(0, 500.0)
    >>> a = np.ones(500)
    >>> a[100] = 9.0
    >>> float(local_noise_floor(f, a, 100.0))
    1.0
    """
    amp, target = _targets(amplitude, target_hz)
    half = _half_width(freqs_hz, target, width, min_bins)
    return medians_at(freqs_hz, amp, target[..., None], half[..., None])[..., 0]


def defect_amplitudes(
    freqs_hz: FloatArray,
    amplitude: FloatArray,
    bearing: BearingGeometry,
    shaft_hz: ArrayLike,
    *,
    n_harmonics: int = 3,
    tolerance: float = 0.02,
    min_bins: float = 1.0,
) -> dict[str, FloatArray]:
    """Return, per defect, the peak amplitudes at harmonics ``1..n_harmonics``.

    Each value is shaped ``(..., n_harmonics)``, in the unit of ``amplitude``; see
    :func:`peak_near` for the search band.

    Examples
    --------
    >>> b = BearingGeometry(n_elements=9, element_diameter_mm=7.94, pitch_diameter_mm=39.04)
    >>> f = np.arange(0, 1000.0, 0.5)
    >>> a = np.zeros(f.size)
    >>> a[np.searchsorted(f, 162.0)] = 1.0
    >>> defect_amplitudes(f, a, b, 29.95, n_harmonics=2)["bpfi"]
    array([1., 0.])
    """
    if not isinstance(n_harmonics, int) or n_harmonics < 1:
        raise ValueError(f"n_harmonics must be a positive integer, got {n_harmonics!r}")
    freqs = defect_frequencies_hz(bearing, shaft_hz)
    amp, _ = _targets(amplitude, np.asarray(shaft_hz, dtype=np.float64))
    harmonics = np.arange(1, n_harmonics + 1)
    targets = np.concatenate(
        [np.asarray(freqs[d])[..., None] * harmonics for d in DEFECTS], axis=-1
    )
    targets = np.broadcast_to(targets, (*amp.shape[:-1], targets.shape[-1]))
    half = _half_width(freqs_hz, targets, tolerance, min_bins)
    peaks = peaks_at(freqs_hz, amp, targets, half)[0]
    return {d: peaks[..., i * n_harmonics : (i + 1) * n_harmonics] for i, d in enumerate(DEFECTS)}


def sideband_amplitudes(
    freqs_hz: FloatArray,
    amplitude: FloatArray,
    center_hz: ArrayLike,
    spacing_hz: ArrayLike,
    *,
    n_harmonics: int = 3,
    tolerance: float = 0.02,
    min_bins: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    r"""Return carrier and sideband amplitudes around harmonics of ``center_hz``.

    For :math:`h = 1..n`: the carrier peak near :math:`h f_c` and the mean of the two peaks
    near :math:`h f_c \pm f_s` (``spacing_hz``). An inner-race defect turns with the shaft
    and passes in and out of the load zone, so its envelope spectrum shows sidebands at
    ±1× shaft speed around the BPFI harmonics; an outer-race defect does not. Each search
    band is as in :func:`peak_near`, capped at 40 % of the spacing so carrier and sideband
    never share a bin.

    Returns
    -------
    carrier, sidebands
        Shaped ``(..., n_harmonics)``, unit of ``amplitude``.

    Examples
    --------
    >>> f = np.arange(0, 1000.0)
    >>> a = np.zeros(f.size)
    >>> a[[130, 160, 190]] = [0.5, 1.0, 0.3]
    >>> sideband_amplitudes(f, a, 160.0, 30.0, n_harmonics=1)
    (array([1.]), array([0.4]))
    """
    if not isinstance(n_harmonics, int) or n_harmonics < 1:
        raise ValueError(f"n_harmonics must be a positive integer, got {n_harmonics!r}")
    amp, center = _targets(amplitude, center_hz)
    spacing = np.broadcast_to(np.asarray(spacing_hz, dtype=np.float64), center.shape)
    carriers = center[..., None] * np.arange(1, n_harmonics + 1)
    half = np.minimum(
        _half_width(freqs_hz, carriers, tolerance, min_bins), 0.4 * spacing[..., None]
    )
    targets = np.concatenate(
        [carriers, carriers - spacing[..., None], carriers + spacing[..., None]], axis=-1
    )
    peaks = peaks_at(freqs_hz, amp, targets, np.concatenate([half, half, half], axis=-1))[0]
    n = n_harmonics
    return peaks[..., :n], 0.5 * (peaks[..., n : 2 * n] + peaks[..., 2 * n :])


def sideband_ratio(carrier: FloatArray, sidebands: FloatArray) -> FloatArray:
    """Return ``sum(sidebands) / sum(carrier)`` over harmonics (package-private helper)."""
    return safe_divide(np.sum(sidebands, axis=-1), np.sum(carrier, axis=-1))
