from __future__ import annotations

import numpy as np
import pytest

from shopfloor.features import (
    DEFECTS,
    defect_amplitudes,
    defect_frequencies_hz,
    envelope_spectrum,
    fast_kurtogram,
    local_noise_floor,
    peak_near,
    sideband_amplitudes,
)
from tests.features.signals import CWRU_6205, impact_train

FS = 12000.0
N = 24000
SHAFT_HZ = 1797 / 60


def test_cwru_6205_orders_match_the_data_centre_table():
    assert CWRU_6205.bpfi_order == pytest.approx(5.4152, abs=1e-3)
    assert CWRU_6205.bpfo_order == pytest.approx(3.5848, abs=1e-3)
    assert CWRU_6205.bsf_order == pytest.approx(2.357, abs=1e-3)
    assert CWRU_6205.ftf_order == pytest.approx(0.39828, abs=1e-4)
    f = defect_frequencies_hz(CWRU_6205, np.array([SHAFT_HZ, 1730 / 60]))
    assert f["bpfi"] == pytest.approx([162.2, 156.1], abs=0.1)
    assert list(f) == list(DEFECTS)


def test_peak_near_searches_a_tolerance_band():
    f = np.arange(0, 1000.0, 0.5)
    a = np.zeros((3, f.size))
    a[0, 2 * 103] = 1.0  # 103 Hz: within 2 % of 101
    a[1, 2 * 104] = 1.0  # 104 Hz: outside
    a[2, 2 * 101] = 0.5
    peak, at = peak_near(f, a, 101.0, tolerance=0.02)
    assert peak == pytest.approx([1.0, 0.0, 0.5])
    assert at[[0, 2]] == pytest.approx([103.0, 101.0])
    # a search band outside the spectrum is NaN
    assert np.isnan(peak_near(f, a[0], 2000.0)[0])
    # at least min_bins either side, for low frequencies
    assert peak_near(f, a[0], 102.0, tolerance=0.0, min_bins=2)[0] == 1.0


def test_local_noise_floor_is_the_median_around_the_target():
    f = np.arange(0, 500.0)
    a = np.random.default_rng(0).exponential(size=(4, 500)) + 1.0
    a[:, 100] = 50.0
    floor = local_noise_floor(f, a, 100.0, width=0.1)
    assert floor == pytest.approx(np.median(a[:, 90:111], axis=-1))


def _ses(x):
    low, high, _ = fast_kurtogram(x, FS, min_bandwidth_hz=500).best_band()
    return envelope_spectrum(x, FS, (low, high), squared=True)


def test_outer_race_fault_shows_bpfo_and_its_harmonics():
    bpfo = CWRU_6205.bpfo_order * SHAFT_HZ
    x = impact_train(bpfo, FS, N, noise=0.3)
    f, a = _ses(x)
    amps = defect_amplitudes(f, a, CWRU_6205, SHAFT_HZ, n_harmonics=3)
    floor = {
        d: local_noise_floor(f, a, hz)
        for d, hz in defect_frequencies_hz(CWRU_6205, SHAFT_HZ).items()
    }
    snr = {d: amps[d][0] / floor[d] for d in DEFECTS}
    assert max(snr, key=snr.get) == "bpfo"
    assert snr["bpfo"] > 20
    assert np.all(amps["bpfo"] > 5 * floor["bpfo"])  # harmonics 1-3 all stand out


def test_inner_race_fault_has_shaft_sidebands_and_outer_race_not():
    bpfi = CWRU_6205.bpfi_order * SHAFT_HZ
    bpfo = CWRU_6205.bpfo_order * SHAFT_HZ
    inner = impact_train(bpfi, FS, N, noise=0.2, modulation_hz=SHAFT_HZ, seed=1)
    outer = impact_train(bpfo, FS, N, noise=0.2, seed=1)
    f, a = _ses(np.stack([inner, outer]))
    carrier, sides = sideband_amplitudes(f, a, [bpfi, bpfi], SHAFT_HZ, n_harmonics=2)
    ratio = sides.sum(-1) / carrier.sum(-1)
    assert ratio[0] > 0.3  # sidebands of 0.8-deep modulation: 0.4 of the carrier
    # the outer-race signal has no BPFI line at all, so compare with the noise instead
    floor = local_noise_floor(f, a, bpfi)
    assert sides[1, 0] < 3 * floor[1]
    assert sides[0, 0] > 10 * floor[0]


def test_vectorized_over_windows_with_per_window_speed():
    shafts = np.array([25.0, 30.0, 35.0])
    x = np.stack(
        [
            impact_train(CWRU_6205.bpfo_order * s, FS, N, noise=0.1, seed=i)
            for i, s in enumerate(shafts)
        ]
    )
    f, a = _ses(x)
    amps = defect_amplitudes(f, a, CWRU_6205, shafts, n_harmonics=1)
    for i, s in enumerate(shafts):
        single = defect_amplitudes(f, a[i], CWRU_6205, s, n_harmonics=1)
        for d in DEFECTS:
            assert amps[d][i] == pytest.approx(single[d])
    assert np.all(amps["bpfo"][:, 0] > 5 * amps["bpfi"][:, 0])


def test_errors():
    with pytest.raises(ValueError, match="shaft_hz must be finite and positive"):
        defect_frequencies_hz(CWRU_6205, 0.0)
    with pytest.raises(ValueError, match="n_harmonics must be a positive integer, got 0"):
        defect_amplitudes(np.arange(10.0), np.ones(10), CWRU_6205, 1.0, n_harmonics=0)
