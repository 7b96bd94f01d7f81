"""Synthetic test signals with known answers (shared by the feature tests)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from shopfloor.model import BearingGeometry

FloatArray = NDArray[np.float64]

# CWRU's drive-end SKF 6205: 9 balls, 0.3126 in balls, 1.537 in pitch, 0° contact.
CWRU_6205 = BearingGeometry(
    n_elements=9,
    element_diameter_mm=0.3126 * 25.4,
    pitch_diameter_mm=1.537 * 25.4,
    contact_angle_deg=0.0,
)


def tone(amplitude: float, freq_hz: float, fs: float, n: int, phase: float = 0.3) -> FloatArray:
    t = np.arange(n) / fs
    return amplitude * np.sin(2 * np.pi * freq_hz * t + phase)


def impact_train(
    rate_hz: float,
    fs: float,
    n: int,
    resonance_hz: float = 3000.0,
    damping_per_s: float = 600.0,
    noise: float = 0.0,
    modulation_hz: float | None = None,
    seed: int = 0,
) -> FloatArray:
    """Decaying resonance rung at ``rate_hz`` (optionally amplitude-modulated), plus noise.

    Impact times carry a little jitter (1 % of the period), as rolling elements slip.
    """
    rng = np.random.default_rng(seed)
    period = 1.0 / rate_hz
    times = np.arange(0.0, n / fs, period)
    times = times + rng.normal(scale=0.01 * period, size=times.size)
    t = np.arange(n) / fs
    x = np.zeros(n)
    ring_len = int(8 / damping_per_s * fs)
    tr = np.arange(ring_len) / fs
    ring = np.exp(-damping_per_s * tr) * np.sin(2 * np.pi * resonance_hz * tr)
    for t0 in times:
        i0 = round(t0 * fs)
        if 0 <= i0 < n:
            gain = 1.0
            if modulation_hz is not None:
                gain = 1.0 + 0.8 * np.cos(2 * np.pi * modulation_hz * t0)
            seg = ring[: n - i0]
            x[i0 : i0 + seg.size] += gain * seg
    return x + noise * rng.normal(size=t.size)
