"""CncSimConfig validation, the time parser, and the model's pure building blocks."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shopfloor.sim.cnc import NODES, CncSimConfig
from shopfloor.sim.cnc.config import parse_time_or_offset
from shopfloor.sim.cnc.nodes import UNECE_UNITS, unece_unit_id
from shopfloor.sim.cnc.program import PiecewiseLinear
from shopfloor.sim.cnc.randomness import normal, uniform


def test_defaults_are_a_healthy_machine_on_loopback() -> None:
    cfg = CncSimConfig()
    assert (cfg.host, cfg.port, cfg.fault.type.value, cfg.security.value) == (
        "127.0.0.1", 4840, "none", "none")  # fmt: skip
    assert cfg.block_samples == 25600 and cfg.block_ns == 1_000_000_000
    assert cfg.program.cycle_s == 68.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120", 120.0),
        ("90s", 90.0),
        ("2min", 120.0),
        (30, 30.0),
        ("2025-01-31T08:00:00Z", datetime(2025, 1, 31, 8, tzinfo=UTC)),
        ("2025-01-31T09:00:00+01:00", datetime(2025, 1, 31, 8, tzinfo=UTC)),
    ],
)
def test_fault_onset_is_an_offset_or_a_utc_time(text: object, expected: object) -> None:
    assert CncSimConfig(fault={"type": "ball", "onset": text}).fault.onset == expected


@pytest.mark.parametrize("bad", ["banana", -5, True, datetime(2025, 1, 1)])
def test_bad_onsets_are_refused_with_the_value(bad: object) -> None:
    with pytest.raises(ValidationError, match="onset"):
        CncSimConfig(fault={"type": "ball", "onset": bad})


def test_inconsistent_settings_name_the_setting() -> None:
    with pytest.raises(ValidationError, match="roughing_s=5"):
        CncSimConfig(program={"roughing_s": 5})
    with pytest.raises(ValidationError, match="whole number of samples"):
        CncSimConfig(sample_rate_hz=1000.5)
    with pytest.raises(ValidationError, match="resonance_hz for X"):
        CncSimConfig(sample_rate_hz=8192)
    with pytest.raises(ValidationError, match="not simulated"):
        CncSimConfig(sensor_faults=[{"signal": "Spindle.Torque", "start": 0, "duration_s": 1}])
    with pytest.raises(ValidationError, match="machine_name"):
        CncSimConfig(machine_name="CNC 01")


def test_every_unit_has_a_unece_code() -> None:
    for spec in NODES:
        if spec.unit:
            code, _ = UNECE_UNITS[spec.unit]
            assert unece_unit_id(code) > 0
    assert unece_unit_id("CEL") == 4408652


@given(st.lists(st.floats(-50, 50), min_size=2, max_size=8), st.floats(0, 1))
def test_piecewise_integral_matches_numerical_integration(
    values: list[float], where: float
) -> None:
    t = [float(i) for i in range(len(values))]
    f = PiecewiseLinear(t, values)
    x = where * t[-1]
    # trapezoids through every breakpoint are exact for a piecewise-linear function
    grid = np.union1d(np.linspace(0.0, x, 11), [b for b in t if b < x])
    numeric = float(np.trapezoid(f(grid), grid))
    assert float(f.integral(x)) == pytest.approx(numeric, abs=1e-9 * (1 + np.abs(values).sum()))


@given(st.integers(0, 2**62), st.integers(-(2**62), 2**62))
def test_counter_based_random_numbers_are_pure_and_in_range(seed: int, key: int) -> None:
    u = uniform(seed, key)
    assert u.shape == (1,) and 0.0 <= u[0] < 1.0
    assert uniform(seed, key)[0] == u[0]
    assert np.isfinite(normal(seed, key)).all()


def test_normal_numbers_have_unit_variance() -> None:
    z = normal(7, np.arange(100_000))
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


@given(st.text(min_size=1, max_size=20))
def test_time_parser_never_crashes_unexpectedly(text: str) -> None:
    try:
        value = parse_time_or_offset(text, "t")
    except ValueError:
        return
    assert isinstance(value, float | datetime)
