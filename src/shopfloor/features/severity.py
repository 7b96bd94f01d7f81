r"""Vibration severity as in ISO 10816-1 / ISO 20816-1: velocity RMS and zones A-D.

The severity measure is the RMS of vibration **velocity** over 10-1000 Hz, in mm/s.
Accelerometers measure acceleration, so it is integrated in the frequency domain:
:math:`V_k = A_k / (2\pi i f_k)`, keeping the bins with :math:`10 \le f_k \le 1000` Hz, and
by Parseval the RMS is read straight from the spectrum without going back to time:

.. math:: v_{rms} = \sqrt{\sum_{k\in\text{band}} \frac{c_k |X^w_k|^2}{N\sum_n w_n^2}
   \frac{1}{(2\pi f_k)^2}}

with :math:`c_k = 2` (1 at Nyquist) and a Hann window :math:`w`: power-normalized, so
the mean square of noise is unbiased, and its fast-decaying leakage keeps a tone between
bins from spilling to low frequencies, where :math:`1/f^2` would magnify it.

Zone boundaries (ISO 10816-1 Annex B, velocity RMS in mm/s):

========  =========  =========  =========
class     A/B        B/C        C/D
========  =========  =========  =========
I         0.71       1.8        4.5
II        1.12       2.8        7.1
III       1.8        4.5        11.2
IV        2.8        7.1        18
========  =========  =========  =========

Class I: small machines (up to 15 kW); II: medium (15-75 kW, or up to 300 kW on special
foundations); III: large machines on rigid foundations; IV: large machines on soft
foundations. A value equal to a boundary belongs to the lower zone.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray

from shopfloor.features._arrays import FloatArray, as_signal, check_band, check_rate
from shopfloor.features.spectrum import Spectrum
from shopfloor.model.units import conversion_factor

__all__ = [
    "ISO10816_BOUNDARIES_MM_S",
    "ISO_ZONES",
    "iso10816_zone",
    "velocity_rms",
]

ISO10816_BOUNDARIES_MM_S: dict[str, tuple[float, float, float]] = {
    "I": (0.71, 1.8, 4.5),
    "II": (1.12, 2.8, 7.1),
    "III": (1.8, 4.5, 11.2),
    "IV": (2.8, 7.1, 18.0),
}
"""A/B, B/C and C/D boundaries of velocity RMS (mm/s) per ISO 10816-1 machine class."""

ISO_ZONES = ("A", "B", "C", "D")
"""Zone letters; :func:`iso10816_zone` returns their index (0 = A ... 3 = D)."""


def acceleration_to_m_s2(unit: str) -> float:
    """Return the factor from ``unit`` (an acceleration unit pint knows, or "g") to m/s²."""
    try:
        return conversion_factor(unit, "m/s**2")
    except ValueError as err:
        raise ValueError(
            f"unit must be an acceleration unit such as 'g' or 'm/s**2', got {unit!r}"
        ) from err


def velocity_rms_from_coefficients(
    coefficients: NDArray[np.complex128],
    n_samples: int,
    sample_rate_hz: float,
    band_hz: tuple[float, float],
    to_m_s2: float,
) -> FloatArray:
    """Return velocity RMS in mm/s from the Hann-windowed ``rfft`` of acceleration.

    ``coefficients`` are :attr:`Spectrum.coefficients` of ``Spectrum.of(x, fs, "hann")``.
    """
    low, high = band_hz
    freqs = scipy.fft.rfftfreq(n_samples, 1.0 / sample_rate_hz)
    lo_i = max(int(np.searchsorted(freqs, low, side="left")), 1)  # never integrate DC
    hi_i = int(np.searchsorted(freqs, high, side="right"))
    f = freqs[lo_i:hi_i]
    weights = np.full(f.shape, 2.0)
    if n_samples % 2 == 0 and hi_i == freqs.size:
        weights[-1] = 1.0
    weights /= (2 * np.pi * f) ** 2
    c = coefficients[..., lo_i:hi_i]
    mean_sq = (c.real * c.real + c.imag * c.imag) @ weights
    # Hann: sum of w² = 3N/8, so the power normalization N * sum(w²) is 3N²/8.
    return np.sqrt(mean_sq / (0.375 * n_samples * n_samples)) * (to_m_s2 * 1000.0)


def velocity_rms(
    x: ArrayLike,
    sample_rate_hz: float,
    unit: str = "g",
    band_hz: tuple[float, float] = (10.0, 1000.0),
) -> FloatArray:
    r"""Return the RMS vibration velocity (mm/s) in ``band_hz`` of acceleration ``x``.

    Frequency-domain integration of the Hann-windowed spectrum (see the module
    docstring). A tone of acceleration
    amplitude ``A`` (in m/s²) at ``f`` Hz inside the band gives
    :math:`1000 A / (2\pi f \sqrt2)` mm/s.

    Parameters
    ----------
    x
        Acceleration, time on the last axis.
    sample_rate_hz
        Sample rate.
    unit
        Unit of ``x``: ``"g"`` (standard gravity, 9.80665 m/s²) or any acceleration unit
        pint understands, such as ``"m/s**2"``.
    band_hz
        Integration band, ISO 10816's 10-1000 Hz by default (inclusive at both ends).

    Examples
    --------
    >>> t = np.arange(1000) / 1000
    >>> a = 10.0 * np.sin(2 * np.pi * 100 * t)  # m/s²
    >>> float(velocity_rms(a, 1000.0, unit="m/s**2").round(2))  # 10 / (2π 100) / √2 m/s
    11.25
    """
    arr = as_signal(x)
    fs = check_rate(sample_rate_hz)
    band = check_band(band_hz)
    to_m_s2 = acceleration_to_m_s2(unit)
    coefficients = Spectrum.of(arr, fs, "hann").coefficients
    return velocity_rms_from_coefficients(coefficients, arr.shape[-1], fs, band, to_m_s2)


def iso10816_zone(velocity_rms_mm_s: ArrayLike, machine_class: str = "II") -> FloatArray:
    """Return the ISO 10816-1 zone index (0 = A, 1 = B, 2 = C, 3 = D) of each value.

    A value equal to a boundary belongs to the lower zone; NaN stays NaN. Use
    ``ISO_ZONES[int(z)]`` for the letter. Dimensionless (float, so it sits in a feature
    table beside the others).

    Examples
    --------
    >>> iso10816_zone([0.5, 1.12, 1.13, 3.0, 9.0], machine_class="II")
    array([0., 0., 1., 2., 3.])
    >>> ISO_ZONES[int(iso10816_zone(4.5, "I"))]
    'C'
    """
    bounds = ISO10816_BOUNDARIES_MM_S[check_machine_class(machine_class)]
    v = np.asarray(velocity_rms_mm_s, dtype=np.float64)
    zone = np.searchsorted(np.asarray(bounds), v, side="left").astype(np.float64)
    return np.where(np.isnan(v), np.nan, zone)


def check_machine_class(machine_class: str) -> str:
    """Return ``machine_class`` when it is an ISO 10816-1 class name, else ``ValueError``."""
    if not isinstance(machine_class, str) or machine_class not in ISO10816_BOUNDARIES_MM_S:
        raise ValueError(
            f"machine_class must be one of {sorted(ISO10816_BOUNDARIES_MM_S)}, "
            f"got {machine_class!r}"
        )
    return machine_class
