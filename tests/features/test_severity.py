from __future__ import annotations

import math

import numpy as np
import pytest

from shopfloor.features import ISO10816_BOUNDARIES_MM_S, ISO_ZONES, iso10816_zone, velocity_rms
from tests.features.signals import tone

FS = 25600.0
N = 25600


@pytest.mark.parametrize(
    ("freq_hz", "unit", "to_m_s2"), [(160.0, "g", 9.80665), (45.5, "m/s**2", 1.0)]
)
def test_velocity_rms_of_an_acceleration_tone(freq_hz, unit, to_m_s2):
    amplitude = 0.7
    x = tone(amplitude, freq_hz, FS, N)
    expected_mm_s = amplitude * to_m_s2 / (2 * math.pi * freq_hz) / math.sqrt(2) * 1000
    assert velocity_rms(x, FS, unit=unit) == pytest.approx(expected_mm_s, rel=2e-3)


def test_velocity_rms_ignores_what_is_outside_the_band():
    x = tone(1.0, 100.0, FS, N) + tone(5.0, 3.0, FS, N) + tone(5.0, 3000.0, FS, N) + 2.0
    expected = 9.80665 / (2 * math.pi * 100) / math.sqrt(2) * 1000
    # the Hann lobe spans 99-101 Hz, where 1/f² differs by ±2 %: 5e-5 on the mean
    assert velocity_rms(x, FS) == pytest.approx(expected, rel=2e-4)
    assert velocity_rms(x, FS, band_hz=(2000, 4000)) == pytest.approx(
        5 * 9.80665 / (2 * math.pi * 3000) / math.sqrt(2) * 1000, rel=2e-4
    )


def test_velocity_rms_is_linear_and_vectorized():
    x = np.random.default_rng(0).normal(size=(3, 2, 4096))
    v = velocity_rms(x, 4096.0)
    assert v.shape == (3, 2)
    assert np.allclose(velocity_rms(3 * x, 4096.0), 3 * v, rtol=1e-12)


@pytest.mark.parametrize("machine_class", ["I", "II", "III", "IV"])
def test_iso_zones_at_the_boundaries(machine_class):
    ab, bc, cd = ISO10816_BOUNDARIES_MM_S[machine_class]
    eps = 1e-9
    values = [0.0, ab, ab + eps, bc, bc + eps, cd, cd + eps, 100.0, np.nan]
    zones = iso10816_zone(values, machine_class)
    assert zones[:-1].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert np.isnan(zones[-1])
    assert [ISO_ZONES[int(z)] for z in zones[:-1]] == list("AABBCCDD")


def test_iso_boundaries_are_the_standard_ones():
    assert ISO10816_BOUNDARIES_MM_S == {
        "I": (0.71, 1.8, 4.5),
        "II": (1.12, 2.8, 7.1),
        "III": (1.8, 4.5, 11.2),
        "IV": (2.8, 7.1, 18.0),
    }


def test_errors_name_the_value():
    with pytest.raises(ValueError, match=r"machine_class must be one of .* got 'V'"):
        iso10816_zone(1.0, "V")
    with pytest.raises(ValueError, match=r"unit must be an acceleration unit .* got 'mm/s'"):
        velocity_rms(np.ones(64), FS, unit="mm/s")
