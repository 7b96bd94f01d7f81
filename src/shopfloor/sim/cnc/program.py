"""The machining cycle: operating state, speed, load, tool and toolpath over one cycle.

A cycle is idle (part change), tool change, roughing, tool change, finishing; it starts
and ends with the spindle at rest at the clearance position. Everything here is a
piecewise function of the time ``tc`` within the cycle (seconds, ``0 <= tc < cycle_s``),
vectorized over numpy arrays, and exact: the spindle angle is the closed-form integral of
the piecewise-linear speed profile, so vibration blocks stay phase-continuous.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from shopfloor.sim.cnc.config import ProgramConfig, ThermalConfig

__all__ = ["PiecewiseLinear", "ProgramState", "ProgramTimeline", "Segment"]

F64: TypeAlias = npt.NDArray[np.float64]
I64: TypeAlias = npt.NDArray[np.int64]
ArrayLike: TypeAlias = float | npt.NDArray[np.floating]

APPROACH_S = 1.0
"""Approach (plunge) and retract time of each operation."""
ENGAGE_S = 0.5
"""Time for the cutting load to build up and to fall off."""
ACCEL_LOAD_PCT = 30.0
"""Spindle load while ramping at the configured acceleration."""

CLEAR = (0.0, 0.0, 200.0)
LOAD = (0.0, 250.0, 250.0)
TOOL_CHANGE_POS = (-350.0, 0.0, 250.0)
SAFE_Z = 50.0


class ProgramState(IntEnum):
    """Operating state of the machine; the value is ``Program.StateCode``."""

    IDLE = 0
    TOOL_CHANGE = 1
    ROUGHING = 2
    FINISHING = 3


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of the cycle."""

    state: ProgramState
    start_s: float
    end_s: float
    tool: int
    """Tool in the spindle (for a tool change: the new tool, from the midpoint on)."""
    teeth: int
    """Cutter teeth of the tool while cutting; 0 when not machining."""
    rpm: float
    """Spindle speed plateau; 0 when the spindle is stopped."""
    load_pct: float
    """Cutting load plateau."""


class PiecewiseLinear:
    """A continuous piecewise-linear function with its exact running integral.

    Examples
    --------
    >>> f = PiecewiseLinear([0.0, 2.0, 4.0], [0.0, 10.0, 10.0])
    >>> float(f(1.0)), float(f.integral(4.0))
    (5.0, 30.0)
    """

    def __init__(self, t: list[float], v: list[float]) -> None:
        times = np.asarray(t, dtype=np.float64)
        values = np.asarray(v, dtype=np.float64)
        if times.ndim != 1 or times.shape != values.shape or times.size < 2:
            raise ValueError("PiecewiseLinear needs matching 1-D breakpoints (at least two)")
        if np.any(np.diff(times) <= 0):
            raise ValueError(f"breakpoints must increase strictly, got {times.tolist()}")
        self.t = times
        self.v = values
        dt = np.diff(times)
        self.slope = np.diff(values) / dt
        self.cum = np.concatenate(([0.0], np.cumsum((values[:-1] + values[1:]) / 2 * dt)))

    def _segment(self, x: F64) -> I64:
        idx = np.searchsorted(self.t, x, side="right") - 1
        return np.clip(idx, 0, self.t.size - 2).astype(np.int64)

    def __call__(self, x: ArrayLike) -> F64:
        """Value at ``x`` (held constant outside the breakpoints)."""
        return np.interp(np.asarray(x, dtype=np.float64), self.t, self.v)

    def slope_at(self, x: ArrayLike) -> F64:
        """Slope of the segment containing ``x``."""
        return self.slope[self._segment(np.asarray(x, dtype=np.float64))]

    def integral(self, x: ArrayLike) -> F64:
        """Integral from the first breakpoint to ``x`` (inside the breakpoints)."""
        xs = np.asarray(x, dtype=np.float64)
        j = self._segment(xs)
        dt = xs - self.t[j]
        return self.cum[j] + self.v[j] * dt + 0.5 * self.slope[j] * dt * dt


class _Path:
    """Toolpath waypoints built move by move."""

    def __init__(self, start: tuple[float, float, float]) -> None:
        self.t: list[float] = [0.0]
        self.p: list[tuple[float, float, float]] = [start]

    def move_to(self, t: float, p: tuple[float, float, float]) -> None:
        if t <= self.t[-1] + 1e-9:
            self.p[-1] = p
            return
        self.t.append(t)
        self.p.append(p)

    def hold_until(self, t: float) -> None:
        self.move_to(t, self.p[-1])

    def follow(self, t0: float, t1: float, points: list[tuple[float, float, float]]) -> None:
        """Visit ``points`` from ``t0`` to ``t1`` at constant path speed."""
        xyz = np.asarray(points, dtype=np.float64)
        lengths = np.linalg.norm(np.diff(xyz, axis=0), axis=1)
        total = float(lengths.sum())
        cum = np.concatenate(([0.0], np.cumsum(lengths)))
        for point, s in zip(points[1:], cum[1:], strict=True):
            self.move_to(t0 + (t1 - t0) * float(s) / total, point)


def _raster(z: float) -> list[tuple[float, float, float]]:
    points: list[tuple[float, float, float]] = []
    for row, y in enumerate(np.arange(-30.0, 30.0 + 1e-9, 10.0)):
        xs = (-40.0, 40.0) if row % 2 == 0 else (40.0, -40.0)
        points.extend((x, float(y), z) for x in xs)
    return points


def _circle(z: float, laps: int) -> list[tuple[float, float, float]]:
    angles = np.linspace(0.0, 2 * np.pi * laps, 72 * laps + 1)
    return [(45.0 * float(np.cos(a)), 45.0 * float(np.sin(a)), z) for a in angles]


class ProgramTimeline:
    """The machining cycle of a :class:`ProgramConfig` as functions of cycle time.

    Parameters
    ----------
    program
        Durations, speeds, tools and loads.
    thermal
        Thermal time constants and rises (the temperatures are the periodic steady state
        of first-order lags driven by the cycle).
    reference_rpm
        Speed at which the spindle heat input is 1.
    """

    def __init__(
        self, program: ProgramConfig, thermal: ThermalConfig, reference_rpm: float
    ) -> None:
        self.program = program
        self.cycle_s = program.cycle_s
        self.reference_hz = reference_rpm / 60.0
        self.accel_hz_s = program.spindle_accel_rpm_s / 60.0
        p = program
        rough_start = p.idle_s + p.tool_change_s
        finish_start = rough_start + p.roughing_s + p.tool_change_s
        self.segments: tuple[Segment, ...] = (
            Segment(ProgramState.IDLE, 0.0, p.idle_s, p.finishing_tool, 0, 0.0, 0.0),
            Segment(ProgramState.TOOL_CHANGE, p.idle_s, rough_start, p.roughing_tool, 0, 0.0, 0.0),
            Segment(ProgramState.ROUGHING, rough_start, rough_start + p.roughing_s,
                    p.roughing_tool, p.roughing_teeth, p.roughing_rpm, p.roughing_load_pct),
            Segment(ProgramState.TOOL_CHANGE, rough_start + p.roughing_s, finish_start,
                    p.finishing_tool, 0, 0.0, 0.0),
            Segment(ProgramState.FINISHING, finish_start, finish_start + p.finishing_s,
                    p.finishing_tool, p.finishing_teeth, p.finishing_rpm, p.finishing_load_pct),
        )  # fmt: skip
        self._starts = np.array([s.start_s for s in self.segments])
        self._state = np.array([int(s.state) for s in self.segments], dtype=np.int64)
        self._teeth = np.array([s.teeth for s in self.segments], dtype=np.int64)
        self._tool = np.array([s.tool for s in self.segments], dtype=np.int64)
        # the tool before each segment (a tool change swaps at its midpoint)
        self._tool_before = np.roll(self._tool, 1)
        self._mid = np.array([(s.start_s + s.end_s) / 2 for s in self.segments])

        speed_t, speed_v = [0.0], [0.0]
        load_t, load_v = [0.0], [0.0]
        path = _Path(CLEAR)
        for seg in self.segments:
            a, b = seg.start_s, seg.end_s
            if seg.state in (ProgramState.ROUGHING, ProgramState.FINISHING):
                f = seg.rpm / 60.0
                ramp = f / self.accel_hz_s
                cut0, cut1 = a + ramp + APPROACH_S, b - ramp - APPROACH_S
                speed_t += [a, a + ramp, b - ramp, b]
                speed_v += [0.0, f, f, 0.0]
                level = seg.load_pct / 100.0
                load_t += [cut0, cut0 + ENGAGE_S, cut1 - ENGAGE_S, cut1]
                load_v += [0.0, level, level, 0.0]
                if seg.state is ProgramState.ROUGHING:
                    points = _raster(-3.0)
                else:
                    points = _circle(-5.0, max(1, round((cut1 - cut0) / 8.0)))
                x0, y0, zc = points[0]
                xe, ye, _ = points[-1]
                path.move_to(a + min(1.0, ramp), (x0, y0, SAFE_Z))
                path.hold_until(a + ramp)
                path.move_to(cut0, (x0, y0, zc))
                path.follow(cut0, cut1, points)
                path.move_to(b - ramp, (xe, ye, SAFE_Z))
                path.move_to(b - ramp + min(1.0, ramp), CLEAR)
                path.hold_until(b)
            elif seg.state is ProgramState.TOOL_CHANGE:
                move = min(1.0, (b - a) / 4)
                path.move_to(a + move, TOOL_CHANGE_POS)
                path.hold_until(b - move)
                path.move_to(b, CLEAR)
            else:
                path.move_to(a + 1.0, LOAD)
                path.hold_until(b - 1.0)
                path.move_to(b, CLEAR)
        speed_t.append(self.cycle_s)
        speed_v.append(0.0)
        load_t.append(self.cycle_s)
        load_v.append(0.0)
        self.speed_hz = PiecewiseLinear(*_dedupe(speed_t, speed_v))
        self.cut_load = PiecewiseLinear(*_dedupe(load_t, load_v))
        path.hold_until(self.cycle_s)
        self._path_t = np.asarray(path.t)
        self._path_p = np.asarray(path.p)
        seg_len = np.linalg.norm(np.diff(self._path_p, axis=0), axis=1)
        self._feed = np.append(seg_len / np.diff(self._path_t) * 60.0, 0.0)
        self._thermal = thermal
        self._build_thermal_tables()

    # --- piecewise-constant lookups -------------------------------------------------

    def _segment_index(self, tc: F64) -> I64:
        idx = np.searchsorted(self._starts, tc, side="right") - 1
        return np.clip(idx, 0, len(self.segments) - 1).astype(np.int64)

    def state(self, tc: ArrayLike) -> I64:
        """Operating state codes (:class:`ProgramState` values)."""
        return self._state[self._segment_index(np.asarray(tc, dtype=np.float64))]

    def teeth(self, tc: ArrayLike) -> I64:
        """Cutter teeth of the tool in a machining segment (0 elsewhere)."""
        return self._teeth[self._segment_index(np.asarray(tc, dtype=np.float64))]

    def tool(self, tc: ArrayLike) -> I64:
        """Tool number in the spindle."""
        x = np.asarray(tc, dtype=np.float64)
        j = self._segment_index(x)
        changing = (self._state[j] == ProgramState.TOOL_CHANGE) & (x < self._mid[j])
        return np.where(changing, self._tool_before[j], self._tool[j])

    # --- continuous quantities ------------------------------------------------------

    def revolutions(self, tc: ArrayLike) -> F64:
        """Spindle revolutions since the start of the cycle (exact integral of speed)."""
        return self.speed_hz.integral(tc)

    def spindle_load_pct(self, tc: ArrayLike) -> F64:
        """Spindle load without noise: cutting, friction and acceleration torque."""
        x = np.asarray(tc, dtype=np.float64)
        f = self.speed_hz(x)
        spinning = f > 0
        friction = np.where(spinning, 3.0 + 4.0 * f / self.reference_hz, 0.0)
        accel = ACCEL_LOAD_PCT * np.abs(self.speed_hz.slope_at(x)) / self.accel_hz_s
        return 100.0 * self.cut_load(x) + friction + np.where(spinning, accel, 0.0)

    def position_mm(self, tc: ArrayLike) -> F64:
        """Axis positions X, Y, Z, shape ``(..., 3)``."""
        x = np.asarray(tc, dtype=np.float64)
        return np.stack([np.interp(x, self._path_t, self._path_p[:, i]) for i in range(3)], -1)

    def feed_mm_min(self, tc: ArrayLike) -> F64:
        """Path feed rate."""
        x = np.asarray(tc, dtype=np.float64)
        j = np.clip(np.searchsorted(self._path_t, x, side="right") - 1, 0, self._feed.size - 1)
        return self._feed[j]

    def spindle_heat(self, tc: ArrayLike) -> F64:
        """Spindle temperature rise over ambient (periodic steady state), in °C."""
        return np.interp(np.asarray(tc, dtype=np.float64), self._grid, self._spindle_rise)

    def coolant_heat(self, tc: ArrayLike) -> F64:
        """Coolant temperature rise over ambient (periodic steady state), in °C."""
        return np.interp(np.asarray(tc, dtype=np.float64), self._grid, self._coolant_rise)

    def _build_thermal_tables(self) -> None:
        dt = 0.25
        m = max(8, int(np.ceil(self.cycle_s / dt)))
        grid = np.linspace(0.0, self.cycle_s, m + 1)
        mid = (grid[:-1] + grid[1:]) / 2
        r = self.speed_hz(mid) / self.reference_hz
        load = self.cut_load(mid)
        th = self._thermal
        self._grid = grid
        self._spindle_rise = th.spindle_rise_c * _periodic_lag(
            r**2 + 0.5 * load, self.cycle_s / m, th.spindle_tau_s
        )
        self._coolant_rise = th.coolant_rise_c * _periodic_lag(
            load + 0.1 * r**2, self.cycle_s / m, th.coolant_tau_s
        )


def _dedupe(t: list[float], v: list[float]) -> tuple[list[float], list[float]]:
    """Drop repeated breakpoints (same time) of a continuous function."""
    out_t, out_v = [t[0]], [v[0]]
    for ti, vi in zip(t[1:], v[1:], strict=True):
        if ti <= out_t[-1] + 1e-12:
            out_v[-1] = vi
        else:
            out_t.append(ti)
            out_v.append(vi)
    return out_t, out_v


def _periodic_lag(u: F64, dt: float, tau: float) -> F64:
    """Periodic steady state of ``tau x' = u - x`` for input ``u`` held over steps ``dt``.

    Returns ``len(u) + 1`` values at the step boundaries (first == last).
    """
    a = float(np.exp(-dt / tau))
    m = u.size
    weights = a ** np.arange(m - 1, -1, -1)
    x0 = float(np.sum(weights * (1 - a) * u) / (1 - a**m))
    x = np.empty(m + 1)
    x[0] = x0
    for i in range(m):
        x[i + 1] = a * x[i] + (1 - a) * u[i]
    return x
