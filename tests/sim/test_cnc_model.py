"""The pure CNC model: determinism, program, scalars, and the physics of the vibration."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from cnc_helpers import (
    NS,
    T0_S,
    envelope_spectrum,
    peak_ratio,
    shaft_hz,
    spectrum,
    steady_cutting_block,
)

from shopfloor.model import WaveformBlock, format_ns
from shopfloor.sim.cnc import CncMachineModel, CncSimConfig, FaultType, ProgramState
from shopfloor.sim.cnc.config import VibrationConfig

START_NS = T0_S * NS


def model_with(fault: str = "none", *, seed: int = 5, **fault_options: object) -> CncMachineModel:
    options: dict[str, object] = {"type": fault, "onset": 0.0, "growth_s": 1.0}
    options |= fault_options
    return CncMachineModel(CncSimConfig(seed=seed, fault=options), start_ns=START_NS)


# --- determinism --------------------------------------------------------------------


def test_same_seed_gives_bit_identical_blocks_in_any_order() -> None:
    a = model_with("inner_race", seed=3)
    b = model_with("inner_race", seed=3)
    forward = [a.block_data(T0_S + i) for i in range(3)]
    backward = [b.block_data(T0_S + i) for i in reversed(range(3))][::-1]
    for x, y in zip(forward, backward, strict=True):
        assert x.dtype == np.float64 and x.shape == (25600, 3)
        assert np.array_equal(x, y)
    # and again from the same instance (no hidden state)
    assert np.array_equal(a.block_data(T0_S + 1), forward[1])


def test_different_seed_gives_different_blocks() -> None:
    x = model_with(seed=1).block_data(T0_S + 40)
    y = model_with(seed=2).block_data(T0_S + 40)
    assert not np.allclose(x, y)


def test_scalar_state_is_a_pure_function_of_time() -> None:
    cfg = CncSimConfig(seed=4)
    t = START_NS + np.arange(0, 200 * NS, NS // 10, dtype=np.int64)
    early = CncMachineModel(cfg, start_ns=START_NS).state_at(t)
    late = CncMachineModel(cfg, start_ns=START_NS + 3600 * NS).state_at(t)  # restarted later
    assert np.array_equal(early.speed_rpm, late.speed_rpm)
    assert np.array_equal(early.position_mm, late.position_mm)
    assert np.array_equal(early.spindle_temp_c, late.spindle_temp_c)


def test_blocks_before_the_onset_equal_the_healthy_machine() -> None:
    onset = 30.0
    faulty = model_with("outer_race", onset=onset, growth_s=60.0)
    healthy = model_with("none")
    before = T0_S + int(onset) - 2
    assert np.array_equal(faulty.block_data(before), healthy.block_data(before))
    after = steady_cutting_block(faulty, ProgramState.FINISHING, T0_S + int(onset) + 1)
    assert not np.array_equal(faulty.block_data(after), healthy.block_data(after))


def test_blocks_join_without_a_step_at_the_boundary() -> None:
    quiet = VibrationConfig(process_noise_g=0.0, cutting_noise_g=0.0, sensor_noise_g=0.0)
    cfg = CncSimConfig(seed=9, vibration=quiet, fault={"type": "outer_race", "onset": 0})
    model = CncMachineModel(cfg, start_ns=START_NS)
    k = steady_cutting_block(model, ProgramState.ROUGHING)
    joined = np.concatenate([model.block_data(k), model.block_data(k + 1)])
    steps = np.abs(np.diff(joined, axis=0))
    at_boundary = steps[25599]
    assert np.all(at_boundary <= np.percentile(steps, 99.9, axis=0))


def test_offline_generator_yields_waveform_blocks_one_block_apart() -> None:
    model = model_with()
    blocks = list(model.blocks(format_ns(START_NS + NS // 2), duration_s=3.0))
    assert [b.t0_ns for b in blocks] == [START_NS + NS, START_NS + 2 * NS, START_NS + 3 * NS]
    block = blocks[0]
    assert isinstance(block, WaveformBlock)
    assert (block.n_samples, block.n_channels, block.unit) == (25600, 3, "g")
    assert np.array_equal(block.data, model.block_data(T0_S + 1))


# --- program and scalars ------------------------------------------------------------


def test_program_cycles_through_the_machining_states() -> None:
    model = model_with()
    cycle_s = model.timeline.cycle_s
    t = START_NS + np.arange(0, round(cycle_s * 10), dtype=np.int64) * (NS // 10)
    st = model.state_at(t)
    changes = st.state[np.flatnonzero(np.diff(st.state)) + 1].tolist()
    expected_order = [ProgramState.IDLE, ProgramState.TOOL_CHANGE, ProgramState.ROUGHING,
                      ProgramState.TOOL_CHANGE, ProgramState.FINISHING]  # fmt: skip
    first = expected_order.index(ProgramState(changes[0]))
    assert changes == (expected_order * 2)[first : first + len(changes)]
    for state, rpm, tool in ((ProgramState.ROUGHING, 8000, 1), (ProgramState.FINISHING, 12000, 2)):
        in_state = st.state == state
        assert abs(np.percentile(st.speed_rpm[in_state], 90) - rpm) < 0.01 * rpm
        assert set(st.tool[in_state].tolist()) == {tool}
    stopped = np.isin(st.state, [ProgramState.IDLE, ProgramState.TOOL_CHANGE])
    assert np.all(st.speed_rpm[stopped] == 0)


def test_speed_ramps_at_the_configured_acceleration() -> None:
    model = model_with()
    t = START_NS + np.arange(0, round(model.timeline.cycle_s * 100), dtype=np.int64) * (NS // 100)
    rpm = model.timeline.speed_hz(model._cycle_time(t)[1]) * 60
    assert np.max(np.abs(np.diff(rpm))) / 0.01 <= 4000 * 1.001


def test_scalars_stay_in_plausible_ranges() -> None:
    model = model_with("outer_race", onset=100.0, growth_s=100.0)
    t = START_NS + np.arange(0, 600 * NS, NS // 5, dtype=np.int64)
    st = model.state_at(t)
    assert st.load_pct.min() >= 0 and st.load_pct.max() < 120
    assert st.spindle_temp_c.min() > 15 and st.spindle_temp_c.max() < 60
    assert st.coolant_temp_c.min() > 15 and st.coolant_temp_c.max() < 40
    assert np.all(np.abs(st.position_mm[:, :2]) <= 400) and st.position_mm[:, 2].min() >= -10
    assert st.feed_mm_min.max() > 1000
    # a growing bearing fault warms the spindle
    assert st.spindle_temp_c[-100:].mean() > st.spindle_temp_c[:100].mean() + 2
    values = st.node_values(0)
    assert values["Program.Number"] == 1001 and isinstance(values["Program.State"], str)


def test_part_count_counts_cycles_since_midnight_utc() -> None:
    model = model_with()
    midnight = datetime(2024, 3, 1, tzinfo=UTC)
    t0 = int(midnight.timestamp()) * NS
    st = model.state_at(np.array([t0 - 1, t0 + 1, t0 + 10 * round(model.timeline.cycle_s) * NS]))
    assert st.part_count[1] in (0, 1)
    assert st.part_count[0] > st.part_count[1]
    assert st.part_count[2] - st.part_count[1] == 10


# --- fault severity -----------------------------------------------------------------


@pytest.mark.parametrize("growth", ["exponential", "linear"])
def test_severity_is_zero_before_onset_and_grows_after(growth: str) -> None:
    model = model_with("inner_race", onset=60.0, growth_s=300.0, growth=growth)
    t = START_NS + np.arange(0, 500, dtype=np.int64) * NS
    s = model.fault_severity(t)
    assert np.all(s[:60] == 0)
    assert s[60] == pytest.approx(0.05)
    assert np.all(np.diff(s[60:361]) > 0)
    assert np.all(s[360:] == 1.0)
    if growth == "exponential":  # slow first, fast later
        assert s[60 + 150] < 0.5 * (s[60] + 1)


def test_absolute_onset_and_ground_truth() -> None:
    onset = datetime(2023, 11, 14, 22, 15, tzinfo=UTC)
    cfg = CncSimConfig(fault={"type": "ball", "onset": onset.isoformat()})
    model = CncMachineModel(cfg, start_ns=0)
    truth = model.ground_truth()
    assert truth["fault"]["onset_ns"] == int(onset.timestamp()) * NS
    assert truth["fault"]["onset_time"] == "2023-11-14T22:15:00Z"
    assert truth["fault"]["defect_order"] == pytest.approx(2 * cfg.bearing.bsf_order)
    assert truth["bearing"]["orders"]["bpfo"] == pytest.approx(cfg.bearing.bpfo_order)
    assert truth["vibration"]["sample_rate_hz"] == 25600
    assert [s["state"] for s in truth["program"]["segments"]][:3] == [
        "IDLE", "TOOL_CHANGE", "ROUGHING"]  # fmt: skip


# --- physics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "orders"),
    [(ProgramState.ROUGHING, (1.0,)), (ProgramState.FINISHING, (1.0, 2.0))],
)
def test_healthy_spectrum_has_shaft_and_tooth_passing_lines(
    state: ProgramState, orders: tuple[float, ...]
) -> None:
    model = model_with()
    k = steady_cutting_block(model, state)
    fr = shaft_hz(model, k)
    rpm = {ProgramState.ROUGHING: 8000, ProgramState.FINISHING: 12000}[state]
    assert fr == pytest.approx(rpm / 60, rel=0.01)
    teeth = int(model.kinematics(k).teeth[-1])
    assert teeth == {ProgramState.ROUGHING: 4, ProgramState.FINISHING: 6}[state]
    freq, mag = spectrum(model.block_data(k)[:, 0], 25600)
    for f0 in (*(o * fr for o in orders), teeth * fr, 2 * teeth * fr):
        assert peak_ratio(freq, mag, f0) > 10, f"no line at {f0:.1f} Hz"
    # the strongest line is tooth passing
    assert freq[np.argmax(mag)] == pytest.approx(teeth * fr, abs=2)


def test_healthy_envelope_has_no_bearing_line() -> None:
    model = model_with()
    k = steady_cutting_block(model, ProgramState.FINISHING)
    fr = shaft_hz(model, k)
    freq, env = envelope_spectrum(model.block_data(k)[:, 0], 25600)
    for order in (model.config.bearing.bpfo_order, model.config.bearing.bpfi_order):
        assert peak_ratio(freq, env, order * fr) < 6


@pytest.mark.parametrize("state", [ProgramState.ROUGHING, ProgramState.FINISHING])
def test_outer_race_envelope_peaks_at_bpfo(state: ProgramState) -> None:
    model = model_with("outer_race", initial_severity=0.3)
    k = steady_cutting_block(model, state)
    fr = shaft_hz(model, k)
    freq, env = envelope_spectrum(model.block_data(k)[:, 0], 25600)
    band = (freq > 20) & (freq < 3000)
    peak = freq[band][np.argmax(env[band])]
    assert peak == pytest.approx(model.config.bearing.bpfo_order * fr, rel=0.015)


@pytest.mark.parametrize("state", [ProgramState.ROUGHING, ProgramState.FINISHING])
def test_inner_race_envelope_peaks_at_bpfi_with_shaft_sidebands(state: ProgramState) -> None:
    model = model_with("inner_race", initial_severity=0.3)
    k = steady_cutting_block(model, state)
    fr = shaft_hz(model, k)
    bpfi = model.config.bearing.bpfi_order * fr
    freq, env = envelope_spectrum(model.block_data(k)[:, 0], 25600)
    # above the shaft speed (1x itself is strong too: the load zone modulates every impact)
    band = (freq > 1.5 * fr) & (freq < 3000)
    assert freq[band][np.argmax(env[band])] == pytest.approx(bpfi, rel=0.015)
    assert peak_ratio(freq, env, bpfi - fr) > 8
    assert peak_ratio(freq, env, bpfi + fr) > 8


def test_ball_fault_envelope_peaks_at_twice_ball_spin() -> None:
    model = model_with("ball", initial_severity=0.3)
    k = steady_cutting_block(model, ProgramState.FINISHING)
    fr = shaft_hz(model, k)
    freq, env = envelope_spectrum(model.block_data(k)[:, 0], 25600)
    band = (freq > 1.5 * fr) & (freq < 3000)
    peak = freq[band][np.argmax(env[band])]
    assert peak == pytest.approx(2 * model.config.bearing.bsf_order * fr, rel=0.015)


def test_fault_energy_grows_with_severity() -> None:
    model = model_with("outer_race", onset=0.0, growth_s=1000.0)
    freq_pos: list[float] = []
    for start in (T0_S, T0_S + 800):
        k = steady_cutting_block(model, ProgramState.FINISHING, start)
        fr = shaft_hz(model, k)
        freq, env = envelope_spectrum(model.block_data(k)[:, 0], 25600)
        freq_pos.append(peak_ratio(freq, env, model.config.bearing.bpfo_order * fr))
    assert freq_pos[1] > 3 * freq_pos[0]


def test_rms_is_plausible() -> None:
    healthy = model_with()
    faulty = model_with("outer_race")  # full severity after 1 s
    rough = steady_cutting_block(healthy, ProgramState.ROUGHING)
    rms = np.sqrt(np.mean(healthy.block_data(rough) ** 2, axis=0))
    assert np.all((rms > 0.05) & (rms < 1.5)), rms
    stopped = next(
        k for k in range(T0_S, T0_S + 100)
        if np.all(healthy.state_at(k * NS + np.arange(0, NS, NS // 10)).speed_rpm == 0)
    )  # fmt: skip
    assert np.all(np.sqrt(np.mean(healthy.block_data(stopped) ** 2, axis=0)) < 0.01)
    faulty_rms = np.sqrt(np.mean(faulty.block_data(rough) ** 2, axis=0))
    assert np.all(faulty_rms > rms) and np.all(faulty_rms < 5)


def test_fault_type_none_has_zero_severity_everywhere() -> None:
    model = model_with("none")
    assert model.onset_ns is None
    assert not model.fault_severity(START_NS + np.arange(10) * 100 * NS).any()
    assert model.ground_truth()["fault"] == {"type": FaultType.NONE.value}
