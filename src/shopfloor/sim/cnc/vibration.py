r"""Tri-axial spindle acceleration from a physical model (numpy only, no I/O).

One block is the sum of

- **shaft harmonics**: 1x unbalance (a rotating force: X and Y in quadrature, amplitude
  ~ speed²), 2x and 3x misalignment (strongest axially, on Z);
- **drive lines**: motor 1x (belt step-up ratio), belt pass frequency and its 2x, and an
  optional gear mesh ``z_gear · f_r`` with ±1x sidebands;
- **cutter tooth passing** ``z · f_r`` and two harmonics while cutting, amplitude ~ load;
- **bearing defect impacts** (a localized fault): one impact each time a rolling element
  meets the defect, at the defect rate with random slip jitter, each impact ringing a
  damped structural resonance per axis,

  .. math:: h_a(\tau) = e^{-\zeta \omega_a \tau} \sin(\omega_a \sqrt{1-\zeta^2}\,\tau),
            \quad \tau \ge 0,

  amplitude-modulated by the shaft angle (inner race: the defect turns through the load
  zone) or the cage angle (ball: the ball turns through it);
- **broadband noise**: process noise shaped by the structural resonances, growing with
  speed and cutting load, plus the accelerometer's white noise floor.

Everything random is either drawn from ``default_rng([seed, block_index])`` (noise) or
hashed from its own keys (impact jitter), so a block is a pure function of
``(seed, block_index, config)``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from shopfloor.model import BearingGeometry
from shopfloor.sim.cnc.config import DriveConfig, FaultConfig, FaultType, VibrationConfig
from shopfloor.sim.cnc.randomness import normal

__all__ = [
    "BlockKinematics",
    "defect_order",
    "generate_block",
    "lookback_samples",
]

F64: TypeAlias = npt.NDArray[np.float64]
I64: TypeAlias = npt.NDArray[np.int64]

_TAG_IMPACT_JITTER = 0x1A7
_TAG_IMPACT_AMPLITUDE = 0x1A8
_RING_DECADES = 3.0  # render an impact until its ringing has decayed by 10^3
_ALIAS_LIMIT = 0.45  # components above this fraction of the sample rate are left out


@dataclass(frozen=True, slots=True)
class BlockKinematics:
    """Machine state at every sample of one block, plus ``n_lookback`` samples before it.

    The lookback lets impacts that happened just before the block ring into it.
    """

    n_lookback: int
    shaft_rev: F64
    """Spindle angle in revolutions; continuous within a cycle (it restarts each cycle,
    when the spindle is at rest)."""
    shaft_hz: F64
    cut_load: F64
    """Cutting load as a fraction (0.65 = 65 %)."""
    teeth: I64
    """Cutter teeth of the tool in a machining segment, 0 elsewhere."""
    severity: F64
    """Bearing fault severity, 0 (none) to 1."""
    cycle: I64
    """Machining cycle index of each sample."""

    @property
    def n_samples(self) -> int:
        """Samples in the block itself."""
        return int(self.shaft_rev.shape[0]) - self.n_lookback


def defect_order(fault: FaultType, bearing: BearingGeometry) -> float:
    """Impacts per shaft revolution of a fault (BPFO, BPFI or 2 x BSF; 0 for none).

    Examples
    --------
    >>> from shopfloor.sim.cnc.config import DEFAULT_SPINDLE_BEARING as b
    >>> round(defect_order(FaultType.OUTER_RACE, b), 3)
    7.476
    """
    if fault is FaultType.OUTER_RACE:
        return bearing.bpfo_order
    if fault is FaultType.INNER_RACE:
        return bearing.bpfi_order
    if fault is FaultType.BALL:
        return 2.0 * bearing.bsf_order
    return 0.0


def lookback_samples(vibration: VibrationConfig, sample_rate_hz: float) -> int:
    """Samples of ringing to render before a block (the slowest decay of the three axes)."""
    slowest = min(vibration.resonance_hz) * 2 * math.pi * vibration.damping_ratio
    return math.ceil(_RING_DECADES * math.log(10) / slowest * sample_rate_hz) + 1


def generate_block(
    kin: BlockKinematics,
    sample_rate_hz: float,
    vibration: VibrationConfig,
    drive: DriveConfig,
    fault: FaultConfig,
    bearing: BearingGeometry,
    *,
    seed: int,
    block_index: int,
) -> F64:
    """Return one block of acceleration in g, shape ``(n_samples, 3)`` for X, Y, Z.

    Parameters
    ----------
    kin
        Speed profile, spindle angle, load, cutter teeth and fault severity per sample.
    sample_rate_hz
        Sample rate of the block.
    vibration, drive, fault, bearing
        The physical parameters (see :class:`~shopfloor.sim.cnc.config.CncSimConfig`).
    seed, block_index
        Together they seed the noise; the same pair gives the same block, bit for bit.
    """
    n = kin.n_samples
    lb = kin.n_lookback
    out = np.zeros((n, 3))
    _add_tonal(out, kin, sample_rate_hz, vibration, drive)
    rng = np.random.default_rng([seed, block_index])
    _add_noise(out, kin, sample_rate_hz, vibration, rng)
    if fault.type is not FaultType.NONE and fault.peak_impact_g > 0 and kin.severity.max() > 0:
        impacts = _bearing_impacts(kin, sample_rate_hz, vibration, fault, bearing, seed)
        out += impacts[lb:]
    return out


# --- tonal components ---------------------------------------------------------------

_Axes: TypeAlias = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
"""(gain, phase in radians) for X, Y, Z."""


def _add_line(out: F64, cycles: F64, amp: F64, freq: F64, axes: _Axes, limit_hz: float) -> None:
    amp = np.where(freq < limit_hz, amp, 0.0)
    if not np.any(amp):
        return
    angle = 2 * np.pi * cycles
    c = np.cos(angle)
    s = np.sin(angle)
    for axis, (gain, phase) in enumerate(axes):
        out[:, axis] += amp * gain * (c * math.cos(phase) - s * math.sin(phase))


def _add_tonal(
    out: F64, kin: BlockKinematics, fs: float, vib: VibrationConfig, drive: DriveConfig
) -> None:
    lb = kin.n_lookback
    theta = kin.shaft_rev[lb:]
    f = kin.shaft_hz[lb:]
    if not np.any(f > 0):
        return
    r = f / (vib.reference_rpm / 60.0)
    load = kin.cut_load[lb:]
    limit = _ALIAS_LIMIT * fs
    _add_line(
        out, theta, vib.unbalance_g * r**2, f, ((1.0, 0.0), (0.9, -math.pi / 2), (0.15, 0.4)), limit
    )
    _add_line(
        out,
        2 * theta,
        vib.misalignment_g * r**2,
        2 * f,
        ((1.0, 0.7), (0.8, 2.1), (1.2, 0.2)),
        limit,
    )
    _add_line(
        out,
        3 * theta,
        0.35 * vib.misalignment_g * r**2,
        3 * f,
        ((1.0, 1.3), (0.8, 0.4), (0.9, 2.5)),
        limit,
    )
    _add_line(
        out,
        drive.motor_order * theta,
        vib.drive_g * (drive.motor_order * r) ** 2,
        drive.motor_order * f,
        ((1.0, 0.5), (0.7, 2.0), (0.3, 1.0)),
        limit,
    )
    _add_line(
        out,
        drive.belt_order * theta,
        0.5 * vib.drive_g * r,
        drive.belt_order * f,
        ((1.0, 0.0), (0.6, 1.0), (0.1, 0.0)),
        limit,
    )
    _add_line(
        out,
        2 * drive.belt_order * theta,
        0.25 * vib.drive_g * r,
        2 * drive.belt_order * f,
        ((1.0, 0.3), (0.6, 1.6), (0.1, 0.0)),
        limit,
    )
    if drive.gear_teeth > 0:
        z = float(drive.gear_teeth)
        mesh = vib.gear_mesh_g * r * (0.3 + 0.7 * np.minimum(load, 1.0))
        for order, weight in ((z, 1.0), (z - 1, 0.15), (z + 1, 0.15)):
            _add_line(
                out,
                order * theta,
                weight * mesh,
                order * f,
                ((1.0, 0.9), (0.9, 2.4), (0.6, 0.1)),
                limit,
            )
    if np.any(load > 0):
        teeth = kin.teeth[lb:].astype(np.float64)
        for harmonic, weight in ((1, 1.0), (2, 0.5), (3, 0.25)):
            h = float(harmonic)
            _add_line(out, h * teeth * theta, weight * vib.tooth_pass_g * load, h * teeth * f,
                      ((1.0, 0.0), (0.8, 1.2 * h), (0.5, 2.0 * h)), limit)  # fmt: skip


# --- broadband noise ----------------------------------------------------------------


@lru_cache(maxsize=8)
def _noise_shapes(
    n: int, fs: float, resonance_hz: tuple[float, float, float], zeta: float
) -> tuple[F64, F64]:
    """Spectral shape per axis (resonance over a floor) and the irfft scale for unit std."""
    freq = np.fft.rfftfreq(n, 1.0 / fs)
    shapes = np.empty((3, freq.size))
    scales = np.empty(3)
    for axis, fn in enumerate(resonance_hz):
        ratio = freq / fn
        mag = 1.0 / np.sqrt((1 - ratio**2) ** 2 + (2 * zeta * ratio) ** 2) * (2 * zeta)
        shape = 0.35 + mag
        shape[0] = 0.0
        shapes[axis] = shape
        # irfft of (a + ib) * S with a, b ~ N(0, 1): var = (2 * sum S^2 - S0^2 - SN^2) / n^2
        power = 2 * np.sum(shape**2) - shape[0] ** 2 - (shape[-1] ** 2 if n % 2 == 0 else 0)
        scales[axis] = n / math.sqrt(power)
    return shapes, scales


def _add_noise(
    out: F64, kin: BlockKinematics, fs: float, vib: VibrationConfig, rng: np.random.Generator
) -> None:
    n = out.shape[0]
    lb = kin.n_lookback
    shapes, scales = _noise_shapes(n, fs, vib.resonance_hz, vib.damping_ratio)
    spectra = rng.standard_normal((2, 3, shapes.shape[1]))
    shaped = np.fft.irfft((spectra[0] + 1j * spectra[1]) * shapes, n=n, axis=1)
    shaped *= scales[:, None]
    r = kin.shaft_hz[lb:] / (vib.reference_rpm / 60.0)
    sigma = vib.process_noise_g * r + vib.cutting_noise_g * kin.cut_load[lb:]
    out += sigma[:, None] * shaped.T
    out += vib.sensor_noise_g * rng.standard_normal((n, 3))


# --- bearing defect impacts ---------------------------------------------------------


def _modulation(fault: FaultType, theta: F64, j: I64, bearing: BearingGeometry) -> F64:
    """Amplitude factor of each impact from where it happens relative to the load zone."""
    if fault is FaultType.INNER_RACE:
        zone = (1 + np.cos(2 * np.pi * theta)) / 2  # the defect turns with the shaft
        return 0.55 + 0.45 * zone
    if fault is FaultType.BALL:
        zone = (1 + np.cos(2 * np.pi * bearing.ftf_order * theta)) / 2  # ball turns with cage
        races = np.where(j % 2 == 0, 1.0, 0.6)  # alternately strikes inner and outer race
        return (0.55 + 0.45 * zone) * races
    return np.ones_like(theta)  # outer race: the defect sits still in the load zone


def _bearing_impacts(
    kin: BlockKinematics,
    fs: float,
    vib: VibrationConfig,
    fault: FaultConfig,
    bearing: BearingGeometry,
    seed: int,
) -> F64:
    """Impact train through the resonances, over the lookback and the block."""
    n_ext = kin.shaft_rev.shape[0]
    order = defect_order(fault.type, bearing)
    ref_hz = vib.reference_rpm / 60.0
    times: list[F64] = []
    amps: list[F64] = []
    # the spindle angle restarts each cycle: find impacts cycle by cycle
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(kin.cycle)) + 1, [n_ext]))
    for s, e in itertools.pairwise(bounds.tolist()):
        psi = order * kin.shaft_rev[s:e]
        if e - s < 2 or psi[-1] - psi[0] <= 0 or kin.severity[s:e].max() <= 0:
            continue
        cycle = int(kin.cycle[s])
        j = np.arange(math.floor(psi[0]) - 1, math.floor(psi[-1]) + 2, dtype=np.int64)
        jitter = np.clip(fault.slip_jitter * normal(seed, _TAG_IMPACT_JITTER, cycle, j),
                         -3 * fault.slip_jitter, 3 * fault.slip_jitter)  # fmt: skip
        p = j + jitter
        keep = (p > psi[0]) & (p <= psi[-1])
        j, p = j[keep], p[keep]
        if j.size == 0:
            continue
        i = np.searchsorted(psi, p, side="left")  # psi[i-1] < p <= psi[i]
        frac = (p - psi[i - 1]) / (psi[i] - psi[i - 1])
        t_idx = s + i - 1 + frac
        at = s + i
        theta = p / order
        amp = (
            fault.peak_impact_g
            * kin.severity[at]
            * (kin.shaft_hz[at] / ref_hz)
            * _modulation(fault.type, theta, j, bearing)
            * (1 + 0.1 * normal(seed, _TAG_IMPACT_AMPLITUDE, cycle, j))
        )
        times.append(t_idx)
        amps.append(amp)
    out = np.zeros((n_ext, 3))
    if not times:
        return out
    t_idx = np.concatenate(times)
    amp = np.concatenate(amps)
    n_ring = kin.n_lookback
    first = np.ceil(t_idx).astype(np.int64)
    delay = (first - t_idx) / fs  # from the impact to its first sample, in [0, 1/fs)
    k = np.arange(n_ring)
    idx = first[:, None] + k[None, :]
    valid = idx < n_ext
    flat_idx = idx[valid]
    tk = k / fs
    for axis, (fn, gain) in enumerate(zip(vib.resonance_hz, vib.axis_gain, strict=True)):
        wn = 2 * math.pi * fn
        decay = vib.damping_ratio * wn
        wd = wn * math.sqrt(1 - vib.damping_ratio**2)
        # h(delay + tk) separated into outer products: no per-element exp/sin
        row = gain * amp * np.exp(-decay * delay)
        col = np.exp(-decay * tk)
        ring = (row * np.sin(wd * delay))[:, None] * (col * np.cos(wd * tk))[None, :]
        ring += (row * np.cos(wd * delay))[:, None] * (col * np.sin(wd * tk))[None, :]
        out[:, axis] = np.bincount(flat_idx, weights=ring[valid], minlength=n_ext)
    return out
