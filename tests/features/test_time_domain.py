from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.integrate import quad

from shopfloor.features import (
    clearance_factor,
    crest_factor,
    impulse_factor,
    kurtosis,
    mean,
    peak,
    peak_to_peak,
    rms,
    shape_factor,
    skewness,
    zero_crossing_rate,
)
from tests.features.signals import tone

FS = 10000.0
N = 10000  # 1 s: whole periods of every integer frequency


def test_sine_closed_forms():
    a = 2.5
    x = tone(a, 50.0, FS, N, phase=0.0)
    assert rms(x) == pytest.approx(a / math.sqrt(2), rel=1e-12)
    assert crest_factor(x) == pytest.approx(math.sqrt(2), rel=1e-6)
    assert kurtosis(x) == pytest.approx(1.5, rel=1e-9)
    assert skewness(x) == pytest.approx(0.0, abs=1e-9)
    assert shape_factor(x) == pytest.approx(math.pi / (2 * math.sqrt(2)), rel=2e-4)
    assert impulse_factor(x) == pytest.approx(math.pi / 2, rel=2e-4)
    m = quad(lambda u: math.sqrt(math.sin(u)), 0, math.pi / 2)[0] * 2 / math.pi
    # sqrt|x| has a cusp at each zero crossing: the sampled mean converges slowly.
    assert clearance_factor(x) == pytest.approx(1 / m**2, rel=3e-3)
    assert mean(x) == pytest.approx(0.0, abs=1e-12)
    assert peak(x) == pytest.approx(a, rel=1e-6)
    assert peak_to_peak(x) == pytest.approx(2 * a, rel=1e-6)


def test_zero_crossing_rate_of_a_tone_is_twice_its_frequency():
    x = tone(1.0, 123.0, FS, N) + 5.0  # the offset is removed first
    assert zero_crossing_rate(x, FS) == pytest.approx(246.0, abs=1.0)


def test_gaussian_noise_kurtosis_is_three():
    x = np.random.default_rng(0).normal(size=(4, 200_000))
    assert np.allclose(kurtosis(x), 3.0, atol=0.05)
    assert np.allclose(skewness(x), 0.0, atol=0.03)
    assert np.allclose(crest_factor(x), 4.5, atol=0.8)


def test_impacts_raise_kurtosis_and_crest_factor():
    x = np.zeros(N)
    x[::500] = 1.0
    x += np.random.default_rng(1).normal(scale=0.01, size=N)
    assert kurtosis(x) > 15
    assert crest_factor(x) > 4


def test_flat_window_gives_nan_ratios_without_warnings():
    x = np.zeros((2, 100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (crest_factor, kurtosis, skewness, shape_factor, impulse_factor):
            assert np.all(np.isnan(fn(x)))
    assert np.all(rms(x) == 0.0)


def test_shape_is_leading_axes():
    x = np.random.default_rng(2).normal(size=(3, 2, 64))
    for fn in (mean, rms, peak, peak_to_peak, crest_factor, kurtosis, skewness):
        assert fn(x).shape == (3, 2)
    assert zero_crossing_rate(x, FS).shape == (3, 2)


def test_rejects_scalars_and_bad_rates():
    with pytest.raises(ValueError, match="x must have time on the last axis"):
        rms(3.0)
    with pytest.raises(ValueError, match="sample_rate_hz must be a positive number, got -1"):
        zero_crossing_rate(np.ones(10), -1)


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
signals = arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(8, 64)), elements=finite)


@settings(max_examples=50, deadline=None)
@given(x=signals, scale=st.floats(0.01, 100.0), offset=st.floats(-10, 10))
def test_scaling_laws(x, scale, offset):
    # RMS and peak scale linearly; the ratios are scale-invariant, kurtosis offset-invariant too.
    assert np.allclose(rms(scale * x), scale * rms(x), rtol=1e-9, atol=1e-12)
    assert np.allclose(peak(-scale * x), scale * peak(x), rtol=1e-12)
    spread = np.ptp(x, axis=-1)
    ok = spread > 1e-3 * np.max(np.abs(x), axis=-1, initial=0.0) + 1e-6
    k = kurtosis(x)[ok]
    assert np.allclose(kurtosis(scale * x + offset)[ok], k, rtol=1e-6)
    assert np.allclose(crest_factor(scale * x)[ok], crest_factor(x)[ok], rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(x=signals)
def test_window_by_window_equals_batch(x):
    batch = kurtosis(x)
    one_by_one = np.array([kurtosis(row) for row in x])
    assert np.allclose(batch, one_by_one, rtol=1e-12, equal_nan=True)
