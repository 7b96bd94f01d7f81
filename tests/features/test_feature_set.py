from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shopfloor.features.feature_set as feature_set_module
from shopfloor.errors import PipelineError
from shopfloor.features import (
    FeatureSet,
    band_power,
    defect_amplitudes,
    envelope_spectrum,
    fast_kurtogram,
    kurtosis,
    rms,
    spectral_peaks,
    velocity_rms,
)
from shopfloor.model import BearingGeometry
from shopfloor.model.units import registry, validate_unit
from tests.features.signals import CWRU_6205, impact_train, tone

FS = 12000.0
N = 6000


def _windows(n_windows=6, n_channels=2, seed=0):
    rng = np.random.default_rng(seed)
    rates = CWRU_6205.bpfo_order * (25 + 10 * rng.random(n_windows))
    out = np.empty((n_windows, n_channels, N))
    for i in range(n_windows):
        for c in range(n_channels):
            out[i, c] = impact_train(rates[i], FS, N, noise=0.3 + 0.2 * c, seed=10 * i + c)
            out[i, c] += tone(0.5, 30.0 + i, FS, N)
    return out, rates / CWRU_6205.bpfo_order


def _full_set(**overrides):
    params = {
        "bearing": CWRU_6205,
        "bands_hz": [(10, 1000), (1000, 3000)],
        "bands_orders": [(0.5, 1.5), (2.5, 3.5)],
        "n_peaks": 3,
    }
    params.update(overrides)
    return FeatureSet(**params)


def test_batching_invariance_of_the_full_set():
    x, shaft = _windows(n_windows=10)
    fset = _full_set()
    batch = fset.compute(x, FS, shaft_hz=shaft)
    singles = [fset.compute(x[i : i + 1], FS, shaft_hz=shaft[i : i + 1]) for i in range(10)]
    assert list(batch) == fset.feature_names
    for name, value in batch.items():
        assert value.shape == (10, 2)
        assert value.dtype == np.float64
        one_by_one = np.concatenate([s[name] for s in singles])
        np.testing.assert_allclose(value, one_by_one, rtol=1e-12, atol=0, err_msg=name)


def test_chunking_does_not_change_results(monkeypatch):
    x, shaft = _windows(n_windows=5, n_channels=1)
    fset = _full_set(features=["rms", "envelope.*", "spectral_peak_hz.1"])
    whole = fset.compute(x, FS, shaft_hz=shaft)
    monkeypatch.setattr(feature_set_module, "_CHUNK_SAMPLES", 2 * N)  # chunks of 2 windows
    chunked = fset.compute(x, FS, shaft_hz=shaft)
    for name in whole:
        np.testing.assert_allclose(whole[name], chunked[name], rtol=1e-12, err_msg=name)


def test_deterministic():
    x, shaft = _windows(n_windows=3)
    fset = _full_set()
    a, b = fset.compute(x, FS, shaft), fset.clone().compute(x, FS, shaft)
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True)


def test_values_match_the_standalone_functions():
    x, shaft = _windows(n_windows=3, n_channels=1)
    fset = _full_set()
    out = fset.compute(x, FS, shaft_hz=shaft)
    w = x[:, 0]
    assert out["rms"][:, 0] == pytest.approx(rms(w), rel=1e-12)
    assert out["kurtosis"][:, 0] == pytest.approx(kurtosis(w), rel=1e-12)
    assert out["band_power_hz.1000-3000"][:, 0] == pytest.approx(
        band_power(w, FS, (1000, 3000)), rel=1e-9
    )
    assert out["velocity_rms"][:, 0] == pytest.approx(velocity_rms(w, FS, unit="g"), rel=1e-12)
    f, _ = spectral_peaks(w, FS, n_peaks=3)
    assert out["spectral_peak_hz.2"][:, 0] == pytest.approx(f[:, 1], rel=1e-12)
    low, high, _ = fast_kurtogram(w, FS, min_bandwidth_hz=500).best_band()
    assert out["envelope.band_low_hz"][:, 0] == pytest.approx(low)
    assert out["envelope.band_high_hz"][:, 0] == pytest.approx(high)
    fe, ae = envelope_spectrum(w, FS, (low, high))
    amps = defect_amplitudes(fe, ae, CWRU_6205, shaft, n_harmonics=3)
    assert out["envelope.bpfo"][:, 0] == pytest.approx(amps["bpfo"][:, 0], rel=1e-9)
    assert out["envelope.bpfi.h3"][:, 0] == pytest.approx(amps["bpfi"][:, 2], rel=1e-9)
    # the simulated outer-race fault stands out
    assert np.all(out["envelope.bpfo.snr"] > 3 * out["envelope.bpfi.snr"])


def test_nan_and_flat_windows_stay_in_their_row():
    x, shaft = _windows(n_windows=3, n_channels=1)
    x[1, 0, 100] = np.nan
    x[2] = 0.0
    fset = _full_set()
    out = fset.compute(x, FS, shaft_hz=shaft)  # warnings are errors in this suite
    clean = fset.compute(x[:1], FS, shaft_hz=shaft[:1])
    for name, value in out.items():
        assert value[0, 0] == clean[name][0, 0], name
        if not name.startswith("envelope.band_"):  # a NaN window keeps the default band
            assert np.isnan(value[1, 0]), name
    assert np.isnan(out["kurtosis"][2, 0]) and out["rms"][2, 0] == 0.0


def test_two_dimensional_input_is_one_channel():
    x = np.random.default_rng(0).normal(size=(4, 1024))
    out = FeatureSet(["rms", "peak"]).compute(x, 1024.0)
    assert out["rms"].shape == (4, 1)
    assert out["rms"][:, 0] == pytest.approx(rms(x))


def test_pure_tone_through_the_feature_set():
    x = tone(2.0, 160.0, 25600.0, 25600)[None, None, :]
    out = FeatureSet(
        ["rms", "crest_factor", "velocity_rms", "iso_zone", "spectral_peak_hz.1"]
    ).compute(x, 25600.0)
    assert out["rms"][0, 0] == pytest.approx(2 / np.sqrt(2))
    assert out["crest_factor"][0, 0] == pytest.approx(np.sqrt(2), rel=2e-4)  # sampled peak
    v = 2 * 9.80665 / (2 * np.pi * 160) / np.sqrt(2) * 1000  # 13.8 mm/s: zone D for class II
    assert out["velocity_rms"][0, 0] == pytest.approx(v, rel=1e-4)
    assert out["iso_zone"][0, 0] == 3
    assert out["spectral_peak_hz.1"][0, 0] == pytest.approx(160.0, abs=1e-3)


def test_units_are_pint_units_of_the_right_dimension():
    ureg = registry()
    for unit_in, accel in (("g", "standard_gravity"), ("m/s**2", "m/s**2")):
        fset = _full_set(unit=unit_in)
        units = fset.units
        assert list(units) == fset.feature_names
        for unit in units.values():
            validate_unit(unit)
        sq = ureg.Unit(units["band_power_hz.10-1000"])
        assert sq.dimensionality == (ureg.Unit(accel) ** 2).dimensionality
        assert ureg.Quantity(1, units["band_power_hz.10-1000"]).to(
            f"({accel})**2"
        ).magnitude == pytest.approx(1.0)
        assert units["velocity_rms"] == "mm/s"
        assert units["kurtosis"] == "" and units["spectral_centroid"] == "Hz"
    squared = _full_set(envelope_squared=True).units
    assert squared["envelope.bpfo"] == "g_0**2"


def test_shaft_speed_missing_names_the_feature():
    x, _ = _windows(n_windows=1)
    with pytest.raises(PipelineError, match=r"feature 'envelope\.bpfo' needs the shaft speed"):
        _full_set(features=["rms", "envelope.bpfo"]).compute(x, FS)
    with pytest.raises(PipelineError, match=r"band_power_orders\.0\.5-1\.5"):
        _full_set(features=["band_power_orders.*"]).compute(x, FS)
    # features that need no speed do not ask for it
    FeatureSet(["rms", "envelope.band_low_hz"]).compute(x, FS)


def test_shaft_speed_forms():
    x, shaft = _windows(n_windows=3)
    fset = _full_set(features=["shaft_hz", "band_power_orders.0.5-1.5"])
    per_window = fset.compute(x, FS, shaft_hz=shaft)["shaft_hz"]
    assert per_window == pytest.approx(np.repeat(shaft[:, None], 2, axis=1))
    assert fset.compute(x, FS, shaft_hz=30.0)["shaft_hz"] == pytest.approx(np.full((3, 2), 30.0))
    with pytest.raises(PipelineError, match="shaft_hz must be finite and positive"):
        fset.compute(x, FS, shaft_hz=np.array([30.0, -1.0, 30.0]))
    with pytest.raises(PipelineError, match=r"shaft_hz must be a scalar, \(n_windows,\)"):
        fset.compute(x, FS, shaft_hz=np.ones(5))


def test_shaft_speed_estimated_from_nominal():
    t = np.arange(N) / FS
    x = np.stack(
        [sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 5)) for f0 in (29.3, 24.8)]
    )
    fset = FeatureSet(["shaft_hz"], nominal_shaft_hz=27.0)
    est = fset.compute(x, FS)["shaft_hz"][:, 0]
    assert est == pytest.approx([29.3, 24.8], abs=0.02)


def test_fixed_envelope_band():
    x, shaft = _windows(n_windows=2, n_channels=1)
    fset = _full_set(
        features=["envelope.band_*", "envelope.bpfo", "envelope.bpfo.snr"],
        envelope_band=(2500, 3500),
    )
    out = fset.compute(x, FS, shaft_hz=shaft)
    assert out["envelope.band_low_hz"] == pytest.approx(np.full((2, 1), 2500.0))
    assert np.all(out["envelope.band_kurtosis"] > 1)
    assert np.all(out["envelope.bpfo.snr"] > 10)
    with pytest.raises(PipelineError, match="starts above Nyquist"):
        _full_set(features=["envelope.bpfo"], envelope_band=(7000, 8000)).compute(x, FS, shaft)


def test_feature_selection():
    fset = _full_set(features=["kurtosis", "envelope.bpfo*", "rms", "kurtosis"])
    assert fset.feature_names == [
        "kurtosis",
        "envelope.bpfo",
        "envelope.bpfo.h2",
        "envelope.bpfo.h3",
        "envelope.bpfo.snr",
        "rms",
    ]
    default = FeatureSet().feature_names
    assert "shaft_hz" not in default and "rms" in default
    assert not any(n.startswith(("envelope.bp", "band_power")) for n in default)
    with pytest.raises(
        PipelineError, match=r"feature 'envelope\.bpfo' needs bearing=BearingGeometry"
    ):
        FeatureSet(["envelope.bpfo"])
    with pytest.raises(
        PipelineError, match="unknown feature 'rsm'; known with these parameters: mean, rms"
    ):
        FeatureSet(["rsm"])
    with pytest.raises(ValueError, match="wrap it in a list"):
        FeatureSet("rms")  # type: ignore[arg-type]


def test_parameter_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"machine_class must be one of .* got 'V'"):
        FeatureSet(machine_class="V")
    with pytest.raises(ValueError, match="envelope_band must be 'auto' or a"):
        FeatureSet(envelope_band="kurtogram")
    with pytest.raises(ValueError, match="bands_hz entry must satisfy"):
        FeatureSet(bands_hz=[(100, 10)])
    with pytest.raises(ValueError, match="unit must be an acceleration unit"):
        FeatureSet(unit="mm/s")
    with pytest.raises(ValueError, match="windows must be shaped"):
        FeatureSet(["rms"]).compute(np.ones(100), FS)


def test_spec_is_json_and_round_trips():
    fset = _full_set(envelope_band=(2000.0, 3000.0), machine_class="III")
    spec = fset.spec()
    text = json.dumps(spec)
    back = FeatureSet.from_spec(json.loads(text))
    assert back == fset
    assert back.digest() == fset.digest()
    assert hash(back) == hash(fset)
    assert back.feature_names == fset.feature_names
    assert fset.clone() == fset
    assert _full_set(n_peaks=4).digest() != fset.digest()
    with pytest.raises(PipelineError, match="spec version 0 differs"):
        FeatureSet.from_spec({**spec, "version": 0})


def test_params_are_stored_unchanged():
    bands = [(10, 1000)]
    bearing = BearingGeometry(n_elements=8, element_diameter_mm=6.0, pitch_diameter_mm=30.0)
    fset = FeatureSet(["rms"], bands_hz=bands, bearing=bearing)
    params = fset.get_params()
    assert params["bands_hz"] is bands
    assert params["bearing"] is bearing
    assert params["features"] == ["rms"]
    fset.set_params(n_peaks=5)
    assert fset.n_peaks == 5
    with pytest.raises(ValueError, match="FeatureSet has no parameter 'n_peak'"):
        fset.set_params(n_peak=5)
    assert (
        repr(FeatureSet(["rms"], machine_class="I"))
        == "FeatureSet(features=['rms'], machine_class='I')"
    )


def test_sklearn_clone_accepts_it():
    base = pytest.importorskip("sklearn.base")
    fset = _full_set(features=["rms", "envelope.bpfo"])
    copy = base.clone(fset)  # checks that __init__ stores every parameter unchanged
    assert copy == fset and copy is not fset


@settings(max_examples=15, deadline=None)
@given(
    n_windows=st.integers(1, 4),
    n_channels=st.integers(1, 3),
    n_samples=st.sampled_from([256, 300, 1000]),
    seed=st.integers(0, 2**16),
)
def test_shape_and_batch_invariance_property(n_windows, n_channels, n_samples, seed):
    x = np.random.default_rng(seed).normal(size=(n_windows, n_channels, n_samples))
    fset = FeatureSet(bands_hz=[(10, 200)], envelope_min_bandwidth_hz=50.0)
    out = fset.compute(x, 1000.0)
    for name, value in out.items():
        assert value.shape == (n_windows, n_channels)
        last = fset.compute(x[-1:], 1000.0)[name]
        np.testing.assert_allclose(value[-1:], last, rtol=1e-12, err_msg=name)
