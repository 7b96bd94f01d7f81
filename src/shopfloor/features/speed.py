r"""Shaft speed: from a tachometer pulse train, or estimated from the vibration spectrum.

Speeds are in Hz (revolutions per second); multiply by 60 for rpm.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike

from shopfloor.features._arrays import FloatArray, as_positive, as_signal, check_rate, safe_divide
from shopfloor.features.spectrum import window_values

__all__ = [
    "estimate_shaft_speed",
    "shaft_speed_from_tacho",
    "speed_profile_from_tacho",
]


def _rising_edges(pulses: FloatArray, threshold: ArrayLike | None) -> tuple[np.ndarray, FloatArray]:
    """Return a mask of rising crossings between samples i and i+1, and their exact times.

    Times are in samples, interpolated linearly between the two samples around the
    threshold (default: halfway between the window's minimum and maximum).
    """
    if threshold is None:
        thr = 0.5 * (np.max(pulses, axis=-1) + np.min(pulses, axis=-1))
    else:
        thr = np.asarray(threshold, dtype=np.float64)
    thr_b = np.asarray(thr)[..., None]
    before, after = pulses[..., :-1], pulses[..., 1:]
    edges = (before < thr_b) & (after >= thr_b)
    frac = safe_divide(thr_b - before, after - before)
    times = np.arange(pulses.shape[-1] - 1) + np.where(edges, frac, 0.0)
    return edges, times


def shaft_speed_from_tacho(
    pulses: ArrayLike,
    sample_rate_hz: float,
    pulses_per_rev: int = 1,
    threshold: ArrayLike | None = None,
) -> FloatArray:
    r"""Return the mean shaft speed (Hz) of each window of a tachometer pulse train.

    Rising crossings of ``threshold`` are located to a fraction of a sample by linear
    interpolation; the speed is :math:`(n_{edges}-1) / (t_{last}-t_{first}) / p` with
    :math:`p` pulses per revolution. NaN when a window has fewer than two pulses.

    Parameters
    ----------
    pulses
        Tachometer or key-phasor signal, time on the last axis.
    sample_rate_hz
        Sample rate.
    pulses_per_rev
        Pulses per shaft revolution (teeth of the speed wheel, tape marks).
    threshold
        Crossing level, scalar or per window; default halfway between min and max.

    Examples
    --------
    >>> fs = 10000.0
    >>> t = np.arange(10000) / fs
    >>> pulses = (np.sin(2 * np.pi * 24.6 * t) > 0.95).astype(float)
    >>> float(shaft_speed_from_tacho(pulses, fs).round(2))
    24.6
    """
    arr = as_signal(pulses)
    fs = check_rate(sample_rate_hz)
    if not isinstance(pulses_per_rev, int) or pulses_per_rev < 1:
        raise ValueError(f"pulses_per_rev must be a positive integer, got {pulses_per_rev!r}")
    edges, times = _rising_edges(arr, threshold)
    count = np.count_nonzero(edges, axis=-1)
    first = np.argmax(edges, axis=-1)
    last = edges.shape[-1] - 1 - np.argmax(edges[..., ::-1], axis=-1)
    t_first = np.take_along_axis(times, first[..., None], axis=-1)[..., 0]
    t_last = np.take_along_axis(times, last[..., None], axis=-1)[..., 0]
    span_s = np.where(count >= 2, (t_last - t_first) / fs, 0.0)
    return safe_divide((count - 1.0) / pulses_per_rev, span_s)


def speed_profile_from_tacho(
    pulses: ArrayLike,
    sample_rate_hz: float,
    pulses_per_rev: int = 1,
    threshold: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Return ``(times_s, shaft_hz)``: the speed between consecutive pulses of one signal.

    Each speed is placed halfway between its two pulses. ``pulses`` is one 1-D signal
    (pulse counts differ between windows, so there is no batch form); feed the result to
    :func:`~shopfloor.features.order_spectrum` through ``numpy.interp``.

    Examples
    --------
    >>> fs = 1000.0
    >>> pulses = np.zeros(1000)
    >>> pulses[[100, 200, 300]] = 1.0
    >>> speed_profile_from_tacho(pulses, fs)
    (array([0.1495, 0.2495]), array([10., 10.]))
    """
    arr = as_signal(pulses)
    if arr.ndim != 1:
        raise ValueError(f"pulses must be one 1-D signal, got shape {arr.shape}")
    fs = check_rate(sample_rate_hz)
    if not isinstance(pulses_per_rev, int) or pulses_per_rev < 1:
        raise ValueError(f"pulses_per_rev must be a positive integer, got {pulses_per_rev!r}")
    edges, times = _rising_edges(arr, threshold)
    t = times[edges] / fs
    if t.size < 2:
        return np.empty(0), np.empty(0)
    return 0.5 * (t[1:] + t[:-1]), 1.0 / (np.diff(t) * pulses_per_rev)


def estimate_shaft_speed(
    x: ArrayLike,
    sample_rate_hz: float,
    nominal_hz: ArrayLike,
    *,
    search: float = 0.1,
    n_harmonics: int = 5,
    window: str = "hann",
) -> FloatArray:
    r"""Estimate the shaft speed (Hz) of each window from its spectrum.

    1. The dominant peak of the amplitude spectrum (zero-padded 4×) within
       ``nominal_hz * (1 ± search)``.
    2. Refinement: within one FFT bin of that peak, the frequency :math:`f` that maximizes
       the harmonic sum :math:`\sum_{h=1}^{H} A(h f)` (``A`` linearly interpolated), then a
       parabola through the best three grid points. Higher harmonics are :math:`h` times
       more sensitive to a speed error, which is what sharpens the estimate.

    Parameters
    ----------
    x
        Vibration, time on the last axis.
    sample_rate_hz
        Sample rate.
    nominal_hz
        Expected speed, scalar or per window.
    search
        Relative half-width of the search band around ``nominal_hz``.
    n_harmonics
        Harmonics summed in the refinement.
    window
        Window of the spectrum.

    Examples
    --------
    >>> fs = 5000.0
    >>> t = np.arange(10000) / fs
    >>> x = sum(np.sin(2 * np.pi * h * 29.37 * t + h) / h for h in range(1, 6))
    >>> float(estimate_shaft_speed(x, fs, nominal_hz=30.0).round(2))
    29.37
    """
    arr = as_signal(x, min_samples=8)
    fs = check_rate(sample_rate_hz)
    nominal = as_positive(nominal_hz, "nominal_hz")
    if not 0 < search < 1:
        raise ValueError(f"search must be a fraction in (0, 1), got {search!r}")
    if not isinstance(n_harmonics, int) or n_harmonics < 1:
        raise ValueError(f"n_harmonics must be a positive integer, got {n_harmonics!r}")
    n = arr.shape[-1]
    pad = 4
    w = window_values(window, n)
    amp = np.abs(scipy.fft.rfft(arr * w, n=pad * n, axis=-1))
    n_f = amp.shape[-1]
    df = fs / (pad * n)
    leading = np.broadcast_shapes(arr.shape[:-1], nominal.shape)
    amp = np.broadcast_to(amp, (*leading, n_f))
    nominal = np.broadcast_to(nominal, leading)

    # 1. Dominant peak in the search band (gather the band's bins, NaN outside).
    lo = np.ceil(nominal * (1 - search) / df)
    hi = np.minimum(np.floor(nominal * (1 + search) / df), n_f - 1)
    width = int(np.max(hi - lo)) + 1
    idx = lo[..., None] + np.arange(width)
    valid = idx <= hi[..., None]
    band = np.take_along_axis(amp, np.clip(idx, 0, n_f - 1).astype(np.intp), axis=-1)
    best = np.argmax(np.where(valid, band, -np.inf), axis=-1)
    coarse = (lo + best) * df

    # 2. Harmonic-sum refinement on a grid of df/4 steps across ±1 unpadded bin.
    steps = np.arange(-2 * pad, 2 * pad + 1) / (4.0 * pad)
    grid = coarse[..., None] + steps * (pad * df)
    score = np.zeros(grid.shape)
    for h in range(1, n_harmonics + 1):
        pos = np.clip(h * grid / df, 0, n_f - 1.000001)
        i0 = np.floor(pos).astype(np.intp)
        frac = pos - i0
        a0 = np.take_along_axis(amp, i0, axis=-1)
        a1 = np.take_along_axis(amp, i0 + 1, axis=-1)
        score += a0 + frac * (a1 - a0)
    k = np.clip(np.argmax(score, axis=-1), 1, grid.shape[-1] - 2)[..., None]
    s_l, s_c, s_r = (np.take_along_axis(score, k + d, axis=-1)[..., 0] for d in (-1, 0, 1))
    curvature = s_l - 2 * s_c + s_r
    delta = np.where(curvature < 0, 0.5 * safe_divide(s_l - s_r, curvature), 0.0)
    step_hz = grid[..., 1] - grid[..., 0]
    best = np.take_along_axis(grid, k, axis=-1)[..., 0]
    return np.asarray(best + np.clip(delta, -1, 1) * step_hz, dtype=np.float64)
