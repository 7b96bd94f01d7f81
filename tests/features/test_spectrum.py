from __future__ import annotations

import numpy as np
import pytest

from shopfloor.features import (
    Spectrum,
    amplitude_spectrum,
    band_power,
    band_power_from_spectrum,
    find_spectral_peaks,
    power_spectrum,
    spectral_centroid,
    spectral_kurtosis,
    spectral_peaks,
    spectral_spread,
    welch_psd,
)
from tests.features.signals import tone

FS = 4096.0
N = 4096


def test_amplitude_of_an_on_bin_tone_is_its_amplitude():
    f, a = amplitude_spectrum(tone(3.0, 200.0, FS, N), FS)
    assert f[np.argmax(a)] == 200.0
    assert a.max() == pytest.approx(3.0, rel=1e-9)


@pytest.mark.parametrize("window", ["hann", "boxcar", "flattop"])
def test_power_spectrum_sums_to_mean_square(window):
    x = np.random.default_rng(0).normal(size=(2, N))
    _, p = power_spectrum(x, FS, window)
    if window == "boxcar":
        assert np.allclose(p.sum(-1), np.mean(x * x, -1), rtol=1e-12)
    else:  # windowed: the mean square of windowed noise, in expectation
        assert np.allclose(p.sum(-1), np.mean(x * x, -1), rtol=0.1)


def test_band_power_of_a_tone():
    x = tone(2.0, 300.3, FS, N) + tone(1.0, 1000.0, FS, N)
    assert band_power(x, FS, (250, 350)) == pytest.approx(2.0, rel=2e-3)  # A²/2, off-bin
    assert band_power(x, FS, (900, 1100)) == pytest.approx(0.5, rel=1e-9)
    assert band_power(x, FS, (1500, 2000)) == pytest.approx(0.0, abs=1e-6)


def test_band_power_per_window_bands():
    x = np.stack([tone(1.0, 100.0, FS, N), tone(1.0, 200.0, FS, N)])
    s = Spectrum.of(x, FS)
    # window 0's band holds its tone, window 1's band does not
    out = band_power_from_spectrum(s.freqs_hz, s.power, np.array([90.0, 50.0]), [110.0, 150.0])
    assert out == pytest.approx([0.5, 0.0], abs=1e-9)


def test_welch_psd_integrates_to_the_variance():
    x = np.random.default_rng(1).normal(scale=2.0, size=65536)
    f, p = welch_psd(x, FS)
    assert np.sum(p) * (f[1] - f[0]) == pytest.approx(4.0, rel=0.05)


def test_spectral_shape_of_two_equal_tones():
    x = tone(1.0, 500.0, FS, N) + tone(1.0, 1500.0, FS, N)
    assert spectral_centroid(x, FS) == pytest.approx(1000.0, rel=1e-6)
    assert spectral_spread(x, FS) == pytest.approx(500.0, rel=1e-4)
    assert spectral_kurtosis(x, FS) == pytest.approx(1.0, rel=1e-4)


def test_spectral_kurtosis_of_white_noise_is_that_of_a_uniform_distribution():
    x = np.random.default_rng(2).normal(size=(4, 65536))
    assert np.allclose(spectral_kurtosis(x, FS), 1.8, atol=0.02)
    assert np.allclose(spectral_centroid(x, FS), FS / 4, rtol=0.02)


def test_top_peaks_are_sorted_and_interpolated():
    x = tone(1.0, 210.37, FS, N) + tone(3.0, 800.81, FS, N) + tone(2.0, 1234.5, FS, N)
    f, a = spectral_peaks(x, FS, n_peaks=3)
    assert f == pytest.approx([800.81, 1234.5, 210.37], abs=0.05)
    assert a == pytest.approx([3.0, 2.0, 1.0], rel=0.01)


def test_missing_peaks_are_nan():
    f = np.arange(10.0)
    a = np.array([0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    pf, pa = find_spectral_peaks(f, a, 3, window="boxcar")
    assert pf[0] == pytest.approx(3.0)
    assert np.isnan(pf[1:]).all()
    assert np.isnan(pa[1:]).all()


@pytest.mark.parametrize("offset", [0.0, 0.13, 0.5, 0.77])
def test_hann_peak_interpolation_is_exact_for_a_tone(offset):
    f, a = spectral_peaks(tone(1.7, 300.0 + offset, FS, N), FS, n_peaks=1)
    assert f[0] == pytest.approx(300.0 + offset, abs=0.01)
    assert a[0] == pytest.approx(1.7, rel=2e-3)


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"band_hz must satisfy 0 <= low < high, got \(5, 1\)"):
        band_power(np.ones(64), FS, (5, 1))
    with pytest.raises(ValueError, match="window 'nope'"):
        amplitude_spectrum(np.ones(64), FS, window="nope")
    with pytest.raises(ValueError, match="n_peaks must be a positive integer, got 0"):
        spectral_peaks(np.ones(64), FS, n_peaks=0)
