"""Helpers shared by the CNC simulator tests: block search and spectra."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import signal

from shopfloor.model import now_ns
from shopfloor.sim.cnc import CncMachineModel, CncSimConfig, ProgramState

T0_S = 1_700_000_000  # a fixed UTC second (2023-11-14), so offline tests never read the clock
NS = 1_000_000_000


def steady_cutting_block(model: CncMachineModel, state: ProgramState, start_s: int = T0_S) -> int:
    """Index of the first block that lies entirely in the steady cutting part of ``state``."""
    probe = np.arange(0, NS + 1, NS // 20, dtype=np.int64)
    for k in range(start_s, start_s + 2 * round(model.timeline.cycle_s) + 2):
        st = model.state_at(k * NS + probe)
        if (
            np.all(st.state == state)
            and np.ptp(st.speed_rpm) < 30
            and np.all(model.timeline.cut_load(_tc(model, k * NS + probe)) > 0.2)
        ):
            return k
    raise AssertionError(f"no steady {state.name} block found")


def _tc(model: CncMachineModel, t_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    shifted = t_ns - model.cycle_offset_ns
    return (shifted % model.cycle_ns).astype(np.float64) / NS


def shaft_hz(model: CncMachineModel, index: int) -> float:
    """Mean spindle speed over block ``index``, in Hz."""
    kin = model.kinematics(index)
    return float(kin.shaft_hz[kin.n_lookback :].mean())


def spectrum(x: npt.NDArray[np.float64], fs: float) -> tuple[npt.NDArray[np.float64], ...]:
    """Hann-windowed amplitude spectrum."""
    mag = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return np.fft.rfftfreq(x.size, 1 / fs), mag


def envelope_spectrum(
    x: npt.NDArray[np.float64], fs: float, band: tuple[float, float] = (2500.0, 6500.0)
) -> tuple[npt.NDArray[np.float64], ...]:
    """Band-pass around the structural resonance, Hilbert envelope, then its spectrum."""
    sos = signal.butter(4, band, btype="bandpass", fs=fs, output="sos")
    env = np.abs(signal.hilbert(signal.sosfiltfilt(sos, x)))
    return spectrum(env - env.mean(), fs)


def peak_ratio(
    freq: npt.NDArray[np.float64], mag: npt.NDArray[np.float64], f0: float, *, tol_hz: float = 3.0
) -> float:
    """Height of the largest bin within ``tol_hz`` of ``f0`` over the median (20 Hz-3 kHz)."""
    floor = np.median(mag[(freq > 20) & (freq < 3000)])
    return float(mag[np.abs(freq - f0) <= tol_hz].max() / floor)


def clock_in(config: CncSimConfig, state: ProgramState, after_s: float = 4.0) -> Callable[[], int]:
    """A wall clock shifted so the simulator starts ``after_s`` into the next ``state``.

    Server tests use it to know the spindle is running (or stopped) while they run.
    """
    model = CncMachineModel(config, start_ns=0)
    segment = next(s for s in model.timeline.segments if s.state is state)
    now = now_ns()
    shifted = now - model.cycle_offset_ns
    tc_ns = shifted % model.cycle_ns
    target_ns = round((segment.start_s + after_s) * NS)
    offset = (target_ns - tc_ns) % model.cycle_ns
    return lambda: now_ns() + offset
