"""Each step of the bearing diagnosis on synthetic signals: prewhitening, band, ball evidence."""

from __future__ import annotations

import numpy as np
import pytest

from shopfloor.features.diagnosis import diagnose_bearing
from shopfloor.features.envelope import envelope_spectrum
from tests.features.test_diagnosis import BEARING, CASES, RATES, SHAFT_HZ, bearing_signal

SECONDS = 10.0
HIGHEST_LINE_HZ = 3 * BEARING.bpfi_order * SHAFT_HZ + SHAFT_HZ
"""The highest line scored: the third BPFI harmonic and its upper shaft sideband."""


def shaft_signature(fs: float, seed: int = 0) -> np.ndarray:
    """An exactly periodic once-per-revolution knock ringing a resonance at fs/8, 10 s.

    Built from its Fourier series (every harmonic of the shaft speed up to 0.45 fs, with the
    resonance's response as amplitude), so it is exactly periodic at any sample rate, as
    unbalance, misalignment or a coupling knock are.
    """
    n = int(SECONDS * fs)
    f = np.fft.rfftfreq(n, 1 / fs)
    res, damping = fs / 8, 0.05
    response = 1 / np.abs(1 - (f / res) ** 2 + 2j * damping * f / res)
    step = round(SHAFT_HZ * SECONDS)  # the shaft harmonics fall on bins k * step
    spectrum = np.zeros(f.size, dtype=complex)
    k = np.arange(step, f.size, step)
    k = k[f[k] < 0.45 * fs]
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    spectrum[k] = response[k] * np.exp(1j * phase * np.arange(1, k.size + 1))
    x = np.fft.irfft(spectrum, n=n)
    return x / np.std(x)


def machine_noise(fs: float, seed: int = 0) -> np.ndarray:
    """A healthy machine: a strong shaft signature, low shaft harmonics, coloured noise."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * fs)
    t = np.arange(n) / fs
    low = sum(2.0 / k * np.cos(2 * np.pi * k * SHAFT_HZ * t + k) for k in range(1, 8))
    white = rng.normal(size=n)
    coloured = np.cumsum(white) / np.sqrt(fs)  # a 1/f^2 floor that whitening flattens
    return 3 * shaft_signature(fs, seed) + low + 0.3 * white + coloured


def test_prewhitening_removes_shaft_harmonics() -> None:
    fs = 12000.0
    x = shaft_signature(fs) + 0.1 * np.random.default_rng(1).normal(size=int(SECONDS * fs))
    band = (HIGHEST_LINE_HZ, 0.4 * fs)
    # Without prewhitening the knock dominates the envelope spectrum at the shaft speed...
    f, raw = envelope_spectrum(x.reshape(10, -1), fs, band)
    raw_mean = raw.mean(axis=0)
    at_shaft = raw_mean[np.argmin(np.abs(f - SHAFT_HZ))]
    assert at_shaft > 20 * np.median(raw_mean[(f > 5) & (f < 600)])
    # ...after it, no shaft harmonic stands out and no fault is reported.
    result = diagnose_bearing(x, fs, SHAFT_HZ, BEARING)
    assert result.verdict == "none"
    ses, fr = result.spectrum, result.freqs_hz
    floor = np.median(ses[(fr > 5) & (fr < 600)])
    harmonics = [ses[np.argmin(np.abs(fr - k * SHAFT_HZ))] for k in range(1, 11)]
    assert max(harmonics) < result.line_snr * floor


def test_prewhitening_keeps_a_fault_under_a_shaft_signature() -> None:
    fs = 12000.0
    order, mod = CASES["outer_race"]
    fault = bearing_signal(fs, order, mod, 0.1)
    x = fault / np.std(fault) + 3 * shaft_signature(fs)
    assert diagnose_bearing(x, fs, SHAFT_HZ, BEARING).verdict == "outer_race"


@pytest.mark.parametrize("fs", RATES)
def test_healthy_machine_is_none(fs: float) -> None:
    result = diagnose_bearing(machine_noise(fs), fs, SHAFT_HZ, BEARING)
    assert result.verdict == "none"
    assert HIGHEST_LINE_HZ <= result.band_hz[0] < result.band_hz[1] <= 0.4 * fs


@pytest.mark.parametrize("fs", RATES)
def test_band_starts_above_the_highest_line(fs: float) -> None:
    """Impulsive low-frequency content (below the lines) never becomes the band."""
    rng = np.random.default_rng(3)
    n = int(SECONDS * fs)
    bursts = np.zeros(n)
    bursts[rng.integers(0, n, 40)] = 50.0
    # random short tone bursts at 250 Hz (Gaussian envelope, 3 ms: they fill 0-450 Hz and
    # nothing leaks above): very impulsive, and below the highest line
    tr = np.arange(int(0.1 * fs)) / fs - 0.05
    low_ring = np.exp(-((tr / 0.003) ** 2)) * np.sin(2 * np.pi * 250 * tr)
    order, mod = CASES["inner_race"]
    x = bearing_signal(fs, order, mod, 0.3) + np.convolve(bursts, low_ring)[:n]
    result = diagnose_bearing(x, fs, SHAFT_HZ, BEARING)
    assert result.band_hz[0] >= HIGHEST_LINE_HZ
    assert result.verdict == "inner_race"


@pytest.mark.parametrize("fs", RATES)
def test_ball_fault_shows_at_twice_bsf_with_cage_sidebands(fs: float) -> None:
    order, mod = CASES["ball"]  # impacts at 2 x BSF, modulated at the cage speed
    result = diagnose_bearing(bearing_signal(fs, order, mod, 0.3), fs, SHAFT_HZ, BEARING)
    assert result.verdict == "ball"
    ball = result.candidates["ball"]
    second = [line for line in ball.lines if line.kind == "harmonic" and line.harmonic == 2]
    assert second[0].counted
    assert ball.sidebands_found >= 1
    assert ball.sideband_spacing_hz == pytest.approx(BEARING.ftf_order * SHAFT_HZ)


def test_fixed_band() -> None:
    fs = 12000.0
    order, mod = CASES["outer_race"]
    x = bearing_signal(fs, order, mod, 0.3)
    result = diagnose_bearing(x, fs, SHAFT_HZ, BEARING, band_hz=(2000.0, 4000.0))
    assert result.band_hz == (2000.0, 4000.0)
    assert result.verdict == "outer_race"
    assert np.isfinite(result.band_kurtosis)
    with pytest.raises(ValueError, match="band_hz"):
        diagnose_bearing(x, fs, SHAFT_HZ, BEARING, band_hz=(4000.0, 7000.0))


def test_too_low_a_rate_is_refused() -> None:
    """Below 5 x the highest line there is no band above the lines and below 0.4 x rate."""
    with pytest.raises(ValueError, match="sample_rate_hz=2000"):
        diagnose_bearing(np.random.default_rng(0).normal(size=20000), 2000.0, SHAFT_HZ, BEARING)
