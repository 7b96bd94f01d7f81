"""The CNC machine as a pure function of time: :class:`CncMachineModel`.

The state at any UTC time (operating state, speed, load, positions, temperatures, fault
severity) and any vibration block are computed from the config and the time alone:

- the machining cycle is aligned to the Unix epoch (plus a phase offset drawn from the
  seed), so restarting a simulator continues where the wall clock says;
- vibration block ``k`` covers ``[k, k + 1) * block_duration_s`` since the epoch and is
  identical, bit for bit, however often it is generated;
- only the fault onset may be relative to the machine start (``start_time``).

No I/O; numpy only. Generating one 25.6 kHz block takes a few milliseconds, so hours of
data can be produced offline with :meth:`CncMachineModel.blocks`.

Examples
--------
>>> from shopfloor.sim.cnc.config import CncSimConfig
>>> model = CncMachineModel(CncSimConfig(seed=3), start_ns=0)
>>> block = model.block(1_700_000_000)
>>> block.data.shape, block.unit
((25600, 3), 'g')
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from shopfloor.model import Provenance, SignalRef, WaveformBlock, format_ns, now_ns, to_ns
from shopfloor.sim.cnc.config import CncSimConfig, FaultType, GrowthModel
from shopfloor.sim.cnc.program import ProgramState, ProgramTimeline
from shopfloor.sim.cnc.randomness import normal, uniform
from shopfloor.sim.cnc.vibration import (
    BlockKinematics,
    defect_order,
    generate_block,
    lookback_samples,
)

__all__ = ["CncMachineModel", "MachineState"]

F64: TypeAlias = npt.NDArray[np.float64]
I64: TypeAlias = npt.NDArray[np.int64]
TimeLike: TypeAlias = int | datetime | str

NS = 1_000_000_000
DAY_NS = 86_400 * NS
VIBRATION_SIGNAL = "spindle_accel"

_TAG_CYCLE_OFFSET = 0xC1C
_TAG_CYCLE_PHASE = 0xC1D
_TAG_SPEED_NOISE = 0x5D1
_TAG_LOAD_NOISE = 0x5D2
_TAG_SPINDLE_TEMP_NOISE = 0x5D3
_TAG_COOLANT_TEMP_NOISE = 0x5D4


@dataclass(frozen=True, slots=True)
class MachineState:
    """The machine at one or more times (every field is an array of the same length)."""

    t_ns: I64
    state: I64
    """:class:`~shopfloor.sim.cnc.program.ProgramState` codes."""
    speed_rpm: F64
    load_pct: F64
    feed_mm_min: F64
    position_mm: F64
    """Shape ``(n, 3)``: X, Y, Z."""
    tool: I64
    program_number: int
    part_count: I64
    spindle_temp_c: F64
    coolant_temp_c: F64
    fault_severity: F64

    def node_values(self, i: int = 0) -> dict[str, bool | int | float | str]:
        """Values of the scalar nodes at index ``i``, keyed by node name."""
        return {
            "Spindle.Speed": float(self.speed_rpm[i]),
            "Spindle.Load": float(self.load_pct[i]),
            "Spindle.Temperature": float(self.spindle_temp_c[i]),
            "Axes.X.Position": float(self.position_mm[i, 0]),
            "Axes.Y.Position": float(self.position_mm[i, 1]),
            "Axes.Z.Position": float(self.position_mm[i, 2]),
            "Axes.FeedRate": float(self.feed_mm_min[i]),
            "Program.Number": int(self.program_number),
            "Program.State": ProgramState(int(self.state[i])).name,
            "Program.StateCode": int(self.state[i]),
            "Program.PartCount": int(self.part_count[i]),
            "Tool.Number": int(self.tool[i]),
            "Coolant.Temperature": float(self.coolant_temp_c[i]),
        }


class CncMachineModel:
    """A CNC machining centre with an instrumented spindle, as a function of UTC time.

    Parameters
    ----------
    config
        The simulator config (only the model sections are read).
    start_ns
        Machine start in UTC nanoseconds, the anchor of a relative fault onset; used when
        ``config.start_time`` is not set. Defaults to now.
    """

    def __init__(self, config: CncSimConfig | None = None, *, start_ns: int | None = None) -> None:
        self.config = config if config is not None else CncSimConfig()
        cfg = self.config
        if cfg.start_time is not None:
            self.start_ns = to_ns(cfg.start_time)
        else:
            self.start_ns = now_ns() if start_ns is None else int(start_ns)
        self.timeline = ProgramTimeline(cfg.program, cfg.thermal, cfg.vibration.reference_rpm)
        self.cycle_ns = round(self.timeline.cycle_s * NS)
        self.cycle_offset_ns = int(uniform(cfg.seed, _TAG_CYCLE_OFFSET)[0] * self.cycle_ns)
        self.block_ns = cfg.block_ns
        self.block_samples = cfg.block_samples
        self.sample_rate_hz = cfg.sample_rate_hz
        self.n_lookback = lookback_samples(cfg.vibration, cfg.sample_rate_hz)
        onset = cfg.fault.onset
        if cfg.fault.type is FaultType.NONE:
            self.onset_ns: int | None = None
        elif isinstance(onset, datetime):
            self.onset_ns = to_ns(onset)
        else:
            self.onset_ns = self.start_ns + round(onset * NS)
        self.signal = SignalRef(cfg.asset_path, VIBRATION_SIGNAL)
        self._provenance = Provenance(f"sim:cnc:{cfg.machine_name}")

    # --- time -------------------------------------------------------------------------

    def _cycle_time(self, t_ns: I64) -> tuple[I64, F64]:
        shifted = t_ns - self.cycle_offset_ns
        k = shifted // self.cycle_ns
        tc = (shifted - k * self.cycle_ns).astype(np.float64) / NS
        return k, tc

    def fault_severity(self, t_ns: int | npt.ArrayLike) -> F64:
        """Fault severity (0 to 1) at UTC nanoseconds ``t_ns``; 0 before the onset.

        Examples
        --------
        >>> from shopfloor.sim.cnc.config import CncSimConfig
        >>> cfg = CncSimConfig(fault={"type": "ball", "onset": 10, "growth_s": 100})
        >>> m = CncMachineModel(cfg, start_ns=0)
        >>> m.fault_severity([0, 10 * 10**9, 200 * 10**9]).round(3).tolist()
        [0.0, 0.05, 1.0]
        """
        t = np.atleast_1d(np.asarray(t_ns, dtype=np.int64))
        return self._severity_s(t, np.zeros(t.shape))

    def _severity_s(self, base_ns: I64, offset_s: F64) -> F64:
        if self.onset_ns is None:
            return np.zeros(np.broadcast_shapes(base_ns.shape, offset_s.shape))
        fault = self.config.fault
        since = (base_ns - self.onset_ns).astype(np.float64) / NS + offset_s
        x = np.clip(since / fault.growth_s, 0.0, 1.0)
        s0 = fault.initial_severity
        linear = fault.growth is GrowthModel.LINEAR
        sev = s0 + (1 - s0) * x if linear else s0 ** (1 - x)
        return np.where(since >= 0, sev, 0.0)

    # --- scalars ----------------------------------------------------------------------

    def state_at(self, t_ns: int | npt.ArrayLike) -> MachineState:
        """The machine state at UTC nanoseconds ``t_ns`` (a scalar or an array)."""
        t = np.atleast_1d(np.asarray(t_ns, dtype=np.int64))
        cfg = self.config
        seed = cfg.seed
        k, tc = self._cycle_time(t)
        tl = self.timeline
        f = tl.speed_hz(tc)
        cut = tl.cut_load(tc)
        severity = self.fault_severity(t)
        spinning = f > 0
        speed = f * 60.0 * (1 - 0.002 * cut) + np.where(
            spinning, 1.5 * normal(seed, _TAG_SPEED_NOISE, t), 0.0
        )
        load = tl.spindle_load_pct(tc) + np.where(
            spinning,
            3.0 * severity + (0.8 + 2.0 * cut) * normal(seed, _TAG_LOAD_NOISE, t),
            0.0,
        )
        ambient = self._ambient_c(t)
        spindle_temp = (
            ambient
            + tl.spindle_heat(tc)
            + cfg.thermal.fault_rise_c * severity
            + 0.02 * normal(seed, _TAG_SPINDLE_TEMP_NOISE, t)
        )
        coolant_temp = (
            ambient + 0.5 + tl.coolant_heat(tc) + 0.02 * normal(seed, _TAG_COOLANT_TEMP_NOISE, t)
        )
        day_start = t - t % DAY_NS
        k_day = (day_start - self.cycle_offset_ns) // self.cycle_ns
        return MachineState(
            t_ns=t,
            state=tl.state(tc),
            speed_rpm=np.maximum(speed, 0.0),
            load_pct=np.maximum(load, 0.0),
            feed_mm_min=tl.feed_mm_min(tc),
            position_mm=tl.position_mm(tc),
            tool=tl.tool(tc),
            program_number=cfg.program.number,
            part_count=(k - k_day).astype(np.int64),
            spindle_temp_c=spindle_temp,
            coolant_temp_c=coolant_temp,
            fault_severity=severity,
        )

    def _ambient_c(self, t: I64) -> F64:
        th = self.config.thermal
        hour = (t % DAY_NS).astype(np.float64) / (3600 * NS)
        return th.ambient_c + th.daily_swing_c * np.sin(2 * np.pi * (hour - 9.0) / 24.0)

    # --- vibration --------------------------------------------------------------------

    def block_index(self, t_ns: int) -> int:
        """Index of the block that contains UTC nanoseconds ``t_ns``."""
        return int(t_ns) // self.block_ns

    def block_start_ns(self, index: int) -> int:
        """UTC nanoseconds of the first sample of block ``index``."""
        return int(index) * self.block_ns

    def kinematics(self, index: int) -> BlockKinematics:
        """Speed, angle, load, teeth and severity for block ``index`` and its lookback."""
        if index < 0:
            raise ValueError(f"block index {index} is before 1970")
        fs = self.sample_rate_hz
        t0 = self.block_start_ns(index)
        offsets = np.arange(-self.n_lookback, self.block_samples, dtype=np.float64) / fs
        k0, tc0 = self._cycle_time(np.array([t0], dtype=np.int64))
        tc = tc0[0] + offsets
        cycle_s = self.cycle_ns / NS
        wraps = np.floor(tc / cycle_s).astype(np.int64)
        tc = tc - wraps * cycle_s
        cycle = k0[0] + wraps
        tl = self.timeline
        phase0 = uniform(self.config.seed, _TAG_CYCLE_PHASE, cycle)
        return BlockKinematics(
            n_lookback=self.n_lookback,
            shaft_rev=phase0 + tl.revolutions(tc),
            shaft_hz=tl.speed_hz(tc),
            cut_load=tl.cut_load(tc),
            teeth=tl.teeth(tc),
            severity=self._severity_s(np.array(t0, dtype=np.int64), offsets),
            cycle=cycle,
        )

    def block_data(self, index: int) -> F64:
        """Acceleration of block ``index`` in g, shape ``(block_samples, 3)`` (X, Y, Z)."""
        cfg = self.config
        return generate_block(
            self.kinematics(index),
            cfg.sample_rate_hz,
            cfg.vibration,
            cfg.drive,
            cfg.fault,
            cfg.bearing,
            seed=cfg.seed,
            block_index=index,
        )

    def block(self, index: int) -> WaveformBlock:
        """Block ``index`` as a :class:`~shopfloor.model.WaveformBlock` (channels X, Y, Z)."""
        return WaveformBlock(
            signal=self.signal,
            t0_ns=self.block_start_ns(index),
            sample_rate_hz=self.sample_rate_hz,
            data=self.block_data(index),
            unit="g",
            provenance=self._provenance,
        )

    def blocks(self, start: TimeLike, duration_s: float) -> Iterator[WaveformBlock]:
        """Yield the blocks that start in ``[start, start + duration_s)``, in order.

        ``start`` is UTC nanoseconds, an aware ``datetime`` or ISO 8601 text; it is
        rounded up to a block boundary.
        """
        start_ns = to_ns(start)
        first = -(-start_ns // self.block_ns)
        end_ns = start_ns + round(duration_s * NS)
        index = first
        while self.block_start_ns(index) < end_ns:
            yield self.block(index)
            index += 1

    # --- ground truth -----------------------------------------------------------------

    def defect_frequencies(self) -> dict[str, float]:
        """Defect frequencies as multiples of shaft speed (orders)."""
        b = self.config.bearing
        return {
            "bpfo": b.bpfo_order,
            "bpfi": b.bpfi_order,
            "bsf": b.bsf_order,
            "ftf": b.ftf_order,
            "2bsf": 2 * b.bsf_order,
        }

    def ground_truth(self) -> dict[str, Any]:
        """What a detector is scored against: fault, onset, growth, geometry, orders."""
        cfg = self.config
        fault = cfg.fault
        order = defect_order(fault.type, cfg.bearing)
        fault_info: dict[str, Any] = {"type": fault.type.value}
        if self.onset_ns is not None:
            full_ns = self.onset_ns + round(fault.growth_s * NS)
            fault_info |= {
                "onset_time": format_ns(self.onset_ns),
                "onset_ns": self.onset_ns,
                "full_severity_time": format_ns(full_ns),
                "growth": {
                    "model": fault.growth.value,
                    "duration_s": fault.growth_s,
                    "initial_severity": fault.initial_severity,
                    "formula": (
                        "severity = initial ** (1 - x)"
                        if fault.growth is GrowthModel.EXPONENTIAL
                        else "severity = initial + (1 - initial) * x"
                    )
                    + ", x = clip((t - onset) / duration_s, 0, 1); 0 before onset",
                },
                "peak_impact_g": fault.peak_impact_g,
                "slip_jitter": fault.slip_jitter,
                "defect_order": order,
                "defect_order_name": {
                    FaultType.OUTER_RACE: "bpfo",
                    FaultType.INNER_RACE: "bpfi",
                    FaultType.BALL: "2bsf",
                }[fault.type],
                "modulation": {
                    FaultType.OUTER_RACE: "none (stationary defect in the load zone)",
                    FaultType.INNER_RACE: "shaft rotation (1x sidebands)",
                    FaultType.BALL: "cage rotation (ftf sidebands); bsf from alternating races",
                }[fault.type],
                "defect_frequency_hz": {
                    op: order * rpm / 60.0
                    for op, rpm in (
                        ("roughing", cfg.program.roughing_rpm),
                        ("finishing", cfg.program.finishing_rpm),
                    )
                },
            }
        tl = self.timeline
        return {
            "format": "shopfloor.sim.cnc.ground_truth/1",
            "machine": cfg.machine_name,
            "asset_path": cfg.asset_path,
            "seed": cfg.seed,
            "start_time": format_ns(self.start_ns),
            "start_ns": self.start_ns,
            "fault": fault_info,
            "bearing": {
                **cfg.bearing.model_dump(),
                "orders": self.defect_frequencies(),
            },
            "vibration": {
                "sample_rate_hz": cfg.sample_rate_hz,
                "block_duration_s": cfg.block_duration_s,
                "block_samples": cfg.block_samples,
                "unit": "g",
                "axes": ["X", "Y", "Z"],
                "block_t0": "block k starts at k * block_duration_s since the Unix epoch",
                "resonance_hz": list(cfg.vibration.resonance_hz),
                "damping_ratio": cfg.vibration.damping_ratio,
                "drive": cfg.drive.model_dump(),
            },
            "program": {
                "number": cfg.program.number,
                "cycle_s": tl.cycle_s,
                "cycle_offset_s": self.cycle_offset_ns / NS,
                "cycle_start": "cycles start at cycle_offset_s + k * cycle_s since the epoch",
                "segments": [
                    {
                        "state": seg.state.name,
                        "start_s": seg.start_s,
                        "end_s": seg.end_s,
                        "tool": seg.tool,
                        "cutter_teeth": seg.teeth,
                        "spindle_rpm": seg.rpm,
                        "cutting_load_pct": seg.load_pct,
                    }
                    for seg in tl.segments
                ],
            },
        }
