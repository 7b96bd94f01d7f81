from __future__ import annotations

import numpy as np
import pytest

from shopfloor.features import (
    amplitude_spectrum,
    estimate_shaft_speed,
    order_spectrum,
    resample_to_angle,
    shaft_angle,
    shaft_speed_from_tacho,
    speed_profile_from_tacho,
)

FS = 10000.0


def _harmonic_signal(f0, n, fs=FS, noise=0.0, seed=0):
    t = np.arange(n) / fs
    x = sum(np.cos(2 * np.pi * h * f0 * t + 0.7 * h) / h for h in range(1, 7))
    return x + noise * np.random.default_rng(seed).normal(size=n)


def test_tacho_speed_per_window():
    t = np.arange(20000) / FS
    speeds = np.array([12.3, 25.0, 47.7])
    pulses = (np.sin(2 * np.pi * speeds[:, None] * t) > 0.9).astype(float)
    assert shaft_speed_from_tacho(pulses, FS) == pytest.approx(speeds, rel=1e-3)
    # two pulses per revolution
    assert shaft_speed_from_tacho(pulses, FS, pulses_per_rev=2) == pytest.approx(
        speeds / 2, rel=1e-3
    )
    # fewer than two pulses: NaN
    assert np.isnan(shaft_speed_from_tacho(np.zeros(100), FS))


def test_speed_profile_of_a_run_up():
    t = np.arange(40000) / FS
    speed = 10.0 + 5.0 * t  # 10 -> 30 Hz in 4 s
    angle = shaft_angle(speed, FS, t.size)
    pulses = np.exp(-((np.mod(angle, 1.0) - 0.5) ** 2) / 0.01)  # one smooth pulse per rev
    times, measured = speed_profile_from_tacho(pulses, FS)
    # the mean speed between two pulses is the speed at their midpoint, up to curvature
    assert measured == pytest.approx(10.0 + 5.0 * times, rel=2e-3)


@pytest.mark.parametrize("f0", [24.61, 29.37, 49.9])
def test_speed_estimate_of_a_harmonic_signal(f0):
    x = _harmonic_signal(f0, 20000, noise=0.5)
    assert estimate_shaft_speed(x, FS, nominal_hz=round(f0)) == pytest.approx(f0, abs=0.01)


def test_speed_estimate_per_window():
    x = np.stack([_harmonic_signal(f0, 10000, seed=i) for i, f0 in enumerate((20.3, 30.7))])
    est = estimate_shaft_speed(x, FS, nominal_hz=np.array([20.0, 30.0]))
    assert est == pytest.approx([20.3, 30.7], abs=0.02)
    with pytest.raises(ValueError, match="search must be a fraction"):
        estimate_shaft_speed(x, FS, nominal_hz=20.0, search=2.0)


def test_order_tracking_of_a_run_up_gives_a_sharp_order_line():
    fs = 5000.0
    t = np.arange(int(4 * fs)) / fs
    speed = 15.0 + 5.0 * t  # 15 -> 35 Hz
    x = np.sin(2 * np.pi * 4.0 * shaft_angle(speed, fs, t.size))  # order 4
    orders, amp = order_spectrum(x, fs, speed, samples_per_rev=32)
    assert orders[np.argmax(amp)] == pytest.approx(4.0)
    assert amp.max() == pytest.approx(1.0, rel=0.02)
    width = np.count_nonzero(amp > 0.1 * amp.max())
    assert width <= 3  # the Hann main lobe
    # the plain spectrum smears the same component over 60-140 Hz
    _, plain = amplitude_spectrum(x, fs)
    assert plain.max() < 0.3


def test_resample_to_angle_at_constant_speed():
    x = np.stack([np.sin(2 * np.pi * 3 * shaft_angle(20.0, FS, 5000)), np.zeros(5000)])
    revs, xa = resample_to_angle(x, FS, 20.0, samples_per_rev=16)
    assert xa.shape == (2, revs.size)
    assert revs.size == 9 * 16  # 9.999 revolutions: whole ones only
    assert np.allclose(xa[0], np.sin(2 * np.pi * 3 * revs), atol=2e-3)
    with pytest.raises(ValueError, match="shaft_hz must be a scalar or one speed per sample"):
        resample_to_angle(x, FS, np.ones(3))
    with pytest.raises(ValueError, match="order tracking needs at least one"):
        resample_to_angle(x[:, :100], FS, 20.0)
