r"""Order tracking: resample to constant shaft-angle increments, then take the spectrum.

When the speed changes within a window, a component locked to the shaft (order :math:`o`,
i.e. :math:`o` cycles per revolution) sweeps across frequency bins and smears. Sampled at
constant angle instead of constant time it is a pure tone again, at :math:`o` cycles per
revolution, and its order spectrum is one sharp line.

Angle follows from the speed profile, :math:`\theta(t) = \int_0^t f_{shaft}(\tau)\,d\tau`
(revolutions, trapezoidal rule); the signal is evaluated at the times where
:math:`\theta = k / \text{samples\_per\_rev}` with a cubic interpolating spline, after an
anti-alias low-pass.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.integrate
import scipy.interpolate
from numpy.typing import ArrayLike

from shopfloor.features._arrays import FloatArray, as_positive, as_signal, check_rate
from shopfloor.features.spectrum import Spectrum

__all__ = ["order_spectrum", "resample_to_angle", "shaft_angle"]


def shaft_angle(shaft_hz: ArrayLike, sample_rate_hz: float, n_samples: int) -> FloatArray:
    """Return the shaft angle in revolutions at each sample, starting at 0.

    ``shaft_hz`` is a scalar or one speed per sample (shape ``(n_samples,)``).

    Examples
    --------
    >>> shaft_angle(2.0, 10.0, 6)
    array([0. , 0.2, 0.4, 0.6, 0.8, 1. ])
    """
    fs = check_rate(sample_rate_hz)
    speed = as_positive(shaft_hz, "shaft_hz")
    if speed.ndim == 0:
        return np.arange(n_samples, dtype=np.float64) * (float(speed) / fs)
    if speed.shape != (n_samples,):
        raise ValueError(
            f"shaft_hz must be a scalar or one speed per sample ({n_samples},), "
            f"got shape {speed.shape}"
        )
    return np.asarray(
        scipy.integrate.cumulative_trapezoid(speed, dx=1.0 / fs, initial=0.0), dtype=np.float64
    )


def resample_to_angle(
    x: ArrayLike,
    sample_rate_hz: float,
    shaft_hz: ArrayLike,
    samples_per_rev: int = 64,
    anti_alias: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """Return ``(revolutions, x_angle)``: ``x`` resampled at constant angle increments.

    Parameters
    ----------
    x
        Signals, time on the last axis; every leading row shares the one speed profile
        (channels of one machine). Windows with different profiles are separate calls.
    sample_rate_hz
        Sample rate of ``x``.
    shaft_hz
        Shaft speed, a scalar or one value per sample, e.g.
        ``numpy.interp(t, *speed_profile_from_tacho(...))``.
    samples_per_rev
        Angular sample rate; the order spectrum reaches order ``samples_per_rev / 2``.
    anti_alias
        Low-pass ``x`` first at ``0.4 * samples_per_rev * min(shaft_hz)`` Hz when that is
        below Nyquist, so nothing above order ``0.4 * samples_per_rev`` at the lowest speed
        folds back. Orders above ``0.4 * samples_per_rev * min/max speed`` are attenuated.

    Returns
    -------
    revolutions, x_angle
        Whole revolutions only: ``floor(total revolutions) * samples_per_rev`` samples.

    Examples
    --------
    >>> fs = 1000.0
    >>> x = np.sin(2 * np.pi * 3 * shaft_angle(10.0, fs, 1000))
    >>> revs, xa = resample_to_angle(x, fs, 10.0, samples_per_rev=16, anti_alias=False)
    >>> xa.shape, bool(np.allclose(xa, np.sin(2 * np.pi * 3 * revs), atol=1e-3))
    ((144,), True)
    """
    arr = as_signal(x, min_samples=4)
    fs = check_rate(sample_rate_hz)
    if not isinstance(samples_per_rev, int) or samples_per_rev < 4:
        raise ValueError(f"samples_per_rev must be an integer >= 4, got {samples_per_rev!r}")
    n = arr.shape[-1]
    theta = shaft_angle(shaft_hz, fs, n)
    if np.any(np.diff(theta) <= 0):
        raise ValueError("shaft_hz must be positive so that the angle increases")
    if anti_alias:
        cutoff_hz = 0.4 * samples_per_rev * float(np.min(np.asarray(shaft_hz, dtype=float)))
        if cutoff_hz < fs / 2:
            spec = scipy.fft.rfft(arr, axis=-1)
            spec[..., scipy.fft.rfftfreq(n, 1 / fs) > cutoff_hz] = 0.0
            arr = scipy.fft.irfft(spec, n=n, axis=-1)
    n_revs = int(np.floor(theta[-1] + 1e-9))
    if n_revs < 1:
        raise ValueError(
            f"the window spans {theta[-1]:.3g} revolutions; order tracking needs at least one"
        )
    revs = np.arange(n_revs * samples_per_rev) / samples_per_rev
    t_of_rev = np.interp(revs, theta, np.arange(n) / fs)
    spline = scipy.interpolate.make_interp_spline(np.arange(n) / fs, arr, k=3, axis=-1)
    return revs, np.asarray(spline(t_of_rev), dtype=np.float64)


def order_spectrum(
    x: ArrayLike,
    sample_rate_hz: float,
    shaft_hz: ArrayLike,
    samples_per_rev: int = 64,
    window: str = "hann",
) -> tuple[FloatArray, FloatArray]:
    """Return ``(orders, amplitude)``, the amplitude spectrum of ``x`` in the angle domain.

    ``x`` is resampled by :func:`resample_to_angle`; the order resolution is one over the
    number of whole revolutions. Amplitudes are scaled as in
    :func:`~shopfloor.features.amplitude_spectrum`. Unit: orders (cycles per revolution)
    and the unit of ``x``.

    Examples
    --------
    A run-up from 20 to 30 Hz with a component at order 3:

    >>> fs = 2000.0
    >>> t = np.arange(4000) / fs
    >>> speed = 20.0 + 5.0 * t
    >>> x = np.sin(2 * np.pi * 3 * shaft_angle(speed, fs, t.size))
    >>> o, a = order_spectrum(x, fs, speed, samples_per_rev=32)
    >>> round(float(o[np.argmax(a)]), 6), bool(a.max() > 0.95)
    (3.0, True)
    """
    _, xa = resample_to_angle(x, sample_rate_hz, shaft_hz, samples_per_rev)
    s = Spectrum.of(xa, float(samples_per_rev), window)
    return s.freqs_hz, s.amplitude
