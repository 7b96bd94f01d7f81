from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from shopfloor.features import (
    analytic_band,
    envelope,
    envelope_spectrum,
    fast_kurtogram,
    kurtogram_levels,
)
from shopfloor.features.spectrum import Spectrum
from tests.features.signals import impact_train, tone

FS = 12000.0
N = 12000


def test_plain_hilbert_matches_scipy():
    x = np.random.default_rng(0).normal(size=(2, 1000))
    assert np.allclose(analytic_band(x, FS), scipy.signal.hilbert(x, axis=-1), atol=1e-12)


def test_am_tone_sidebands_and_envelope():
    t = np.arange(N) / FS
    m, fm, fc = 0.4, 17.0, 2000.0
    x = 2.0 * (1 + m * np.cos(2 * np.pi * fm * t)) * np.cos(2 * np.pi * fc * t)
    # the spectrum has the carrier and two sidebands of m*A/2 at fc ± fm
    s = Spectrum.of(x, FS)
    for f, amp in ((fc, 2.0), (fc - fm, 0.4), (fc + fm, 0.4)):
        assert s.amplitude[int(f)] == pytest.approx(amp, rel=1e-9)
    # the envelope gives the modulation back, its spectrum a line of m*A at fm
    assert np.allclose(envelope(x, FS, (1500, 2500)), 2.0 * (1 + m * np.cos(2 * np.pi * fm * t)))
    f, a = envelope_spectrum(x, FS, (1500, 2500), squared=False)
    assert f[np.argmax(a)] == fm
    assert a.max() == pytest.approx(2.0 * m, rel=1e-6)
    # squared: A²(1 + m cos)² has 2mA² at fm and m²A²/2 at 2fm
    f, a = envelope_spectrum(x, FS, (1500, 2500))
    assert a[int(fm)] == pytest.approx(2 * m * 4.0, rel=1e-6)
    assert a[int(2 * fm)] == pytest.approx(m * m * 4.0 / 2, rel=1e-6)


@pytest.mark.parametrize("squared", [False, True])
def test_envelope_spectrum_equals_the_full_rate_computation(squared):
    x = impact_train(97.0, FS, N, noise=0.3)
    band = (2500.0, 3500.0)
    _, fast = envelope_spectrum(x, FS, band, squared=squared)
    env = envelope(x, FS, band, squared=squared)
    slow = Spectrum.of(env - env.mean(), FS).amplitude
    # the squared envelope is band-limited: equal to rounding; |z| folds back a little
    tol = 1e-9 if squared else 1e-3
    assert np.max(np.abs(fast[1:1000] - slow[1:1000])) <= tol * slow.max()


def test_envelope_spectrum_of_an_impact_train_peaks_at_the_impact_rate():
    rate = 87.3
    x = impact_train(rate, FS, N, noise=0.5) + tone(1.5, 29.0, FS, N) + tone(1.0, 58.0, FS, N)
    low, high, _ = fast_kurtogram(x, FS, min_bandwidth_hz=500).best_band()
    f, a = envelope_spectrum(x, FS, (low, high))
    band = (f > 5) & (f < 1000)
    assert f[band][np.argmax(a[band])] == pytest.approx(rate, abs=1.0)


def test_kurtogram_finds_the_resonance_of_impacts_in_noise():
    # A strong, non-impulsive low-frequency tone dominates the energy; the impacts ring
    # a 4.2 kHz resonance buried in noise. The kurtogram must pick the resonance.
    x = (
        impact_train(55.0, FS, N, resonance_hz=4200.0, noise=0.4, seed=3)
        + tone(5.0, 150.0, FS, N)
        + tone(3.0, 1100.0, FS, N)
    )
    kgram = fast_kurtogram(x, FS, min_bandwidth_hz=400)
    low, high, k = kgram.best_band()
    assert low <= 4200 <= high
    assert high - low <= 1500
    assert k > 1.0
    # Gaussian noise alone: every band near 0
    noise = np.random.default_rng(5).normal(size=N)
    assert max(float(np.max(np.abs(v))) for v in fast_kurtogram(noise, FS, 400).kurtosis) < 0.5


def test_kurtogram_of_a_tone_is_minus_one_in_its_band():
    kgram = fast_kurtogram(tone(1.0, 1234.5, FS, N), FS, min_bandwidth_hz=1000)
    level2 = kgram.kurtosis[kgram.n_bands.index(4)]
    assert level2[0] == pytest.approx(-1.0, abs=0.05)


def test_kurtogram_levels_follow_the_one_third_binary_tree():
    levels = kurtogram_levels(25600, 25600.0, min_bandwidth_hz=500.0)
    assert [n for _, n in levels] == [1, 2, 3, 4, 6, 8, 12, 16, 24]
    assert [lv for lv, _ in levels] == [0.0, 1.0, 1.6, 2.0, 2.6, 3.0, 3.6, 4.0, 4.6]
    assert kurtogram_levels(25600, 25600.0, max_level=2) == [(0.0, 1), (1.0, 2), (1.6, 3), (2.0, 4)]


def test_vectorized_over_windows_and_per_window_bands():
    x = np.stack([impact_train(r, FS, N, noise=0.2, seed=i) for i, r in enumerate((60, 90, 120))])
    low, high, _ = fast_kurtogram(x, FS, 500).best_band()
    f, a = envelope_spectrum(x, FS, (low, high))
    for i, rate in enumerate((60, 90, 120)):
        _, a_i = envelope_spectrum(x[i], FS, (low[i], high[i]))
        assert np.allclose(a[i], a_i, rtol=1e-12, atol=1e-15)
        band = (f > 5) & (f < 1000)
        assert f[band][np.argmax(a[i][band])] == pytest.approx(rate, abs=1.0)


def test_band_errors():
    with pytest.raises(ValueError, match="band_hz must satisfy"):
        envelope(np.ones(64), FS, (300, 100))
    with pytest.raises(ValueError, match="no kurtogram level fits"):
        fast_kurtogram(np.ones(64), FS, min_bandwidth_hz=1e6)
