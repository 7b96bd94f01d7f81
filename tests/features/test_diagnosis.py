"""Bearing diagnosis on synthetic signals made here, at 12, 25.6 and 48 kHz."""

from __future__ import annotations

import numpy as np
import pytest

from shopfloor.features.diagnosis import diagnose_bearing
from shopfloor.model import BearingGeometry

BEARING = BearingGeometry(n_elements=9, element_diameter_mm=7.94, pitch_diameter_mm=39.04)
SHAFT_HZ = 30.0
RATES = (12000.0, 25600.0, 48000.0)


def bearing_signal(
    fs: float, order: float, mod_order: float | None, noise: float, seed: int = 0
) -> np.ndarray:
    """Impacts at ``order`` x shaft speed (1 % random slip), amplitude-modulated at
    ``mod_order`` x shaft speed, ringing a resonance at fs/4, plus white noise; 10 s."""
    rng = np.random.default_rng(seed)
    secs = 10.0
    n = int(secs * fs)
    period = 1 / (order * SHAFT_HZ)
    gaps = period * (1 + 0.01 * rng.normal(size=int(secs / period) + 10))
    hits = np.cumsum(gaps)
    hits = hits[hits < secs - 0.02]
    amp = np.ones(hits.size)
    if mod_order is not None:
        amp = 1 + 0.8 * np.cos(2 * np.pi * mod_order * SHAFT_HZ * hits)
    train = np.zeros(n)
    np.add.at(train, (hits * fs).astype(int), amp)
    res = 0.25 * fs
    tr = np.arange(int(0.01 * fs)) / fs
    ring = np.exp(-tr * res / 3) * np.sin(2 * np.pi * res * tr)
    return np.convolve(train, ring)[:n] + noise * rng.normal(size=n)


CASES = {
    "inner_race": (BEARING.bpfi_order, 1.0),
    "outer_race": (BEARING.bpfo_order, None),
    "ball": (2 * BEARING.bsf_order, BEARING.ftf_order),
    "cage": (BEARING.ftf_order, None),
}


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("verdict", ["inner_race", "outer_race", "ball"])
def test_each_fault_is_found_at_each_rate(fs: float, verdict: str) -> None:
    order, mod = CASES[verdict]
    result = diagnose_bearing(bearing_signal(fs, order, mod, 0.3), fs, SHAFT_HZ, BEARING)
    assert result.verdict == verdict
    assert result.band_hz[1] <= 0.4 * fs
    assert result.candidates[verdict].harmonics_found >= 1


@pytest.mark.parametrize("fs", RATES[:2])
def test_cage_fault(fs: float) -> None:
    order, mod = CASES["cage"]
    result = diagnose_bearing(bearing_signal(fs, order, mod, 0.3), fs, SHAFT_HZ, BEARING)
    assert result.verdict == "cage"


def test_inner_race_shows_shaft_sidebands() -> None:
    order, mod = CASES["inner_race"]
    result = diagnose_bearing(bearing_signal(12000.0, order, mod, 0.3), 12000.0, SHAFT_HZ, BEARING)
    assert result.candidates["inner_race"].sidebands_found >= 2
    assert result.candidates["inner_race"].sideband_spacing_hz == SHAFT_HZ


@pytest.mark.parametrize("fs", RATES)
def test_noise_is_none(fs: float) -> None:
    x = np.random.default_rng(5).normal(size=int(10 * fs))
    result = diagnose_bearing(x, fs, SHAFT_HZ, BEARING)
    assert result.verdict == "none"
    assert result.band_hz[1] <= 0.4 * fs


def test_threshold_rarely_reached_by_noise() -> None:
    """The default threshold (1 + 4/sqrt(K)) is above what 1 line in 1000 of noise reaches."""
    rng = np.random.default_rng(11)
    found = total = 0
    for seconds in (1, 2, 3):
        for _ in range(20):
            x = rng.normal(size=int(seconds * 12000))
            result = diagnose_bearing(x, 12000.0, SHAFT_HZ, BEARING)
            lines = [line for c in result.candidates.values() for line in c.lines]
            found += sum(line.snr >= result.line_snr for line in lines)
            total += len(lines)
    assert found / total < 0.002


def test_bad_inputs_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="shaft_hz"):
        diagnose_bearing(np.zeros(1000), 12000.0, -1.0, BEARING)
    with pytest.raises(ValueError, match="one channel"):
        diagnose_bearing(np.zeros((2, 1000)), 12000.0, SHAFT_HZ, BEARING)
    with pytest.raises(ValueError, match="NaN"):
        diagnose_bearing(np.full(1000, np.nan), 12000.0, SHAFT_HZ, BEARING)
