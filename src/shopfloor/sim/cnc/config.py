"""Configuration of the CNC simulator: one pydantic model, :class:`CncSimConfig`.

The pure model (:mod:`~shopfloor.sim.cnc.machine`) reads the machine, program, drive,
bearing, vibration and fault sections; the server reads the rest (endpoint, security,
history, files). Every field has a default, so ``CncSimConfig()`` is a healthy machine on
``opc.tcp://127.0.0.1:4840``.

Examples
--------
>>> cfg = CncSimConfig(seed=7, port=0, fault={"type": "outer_race", "onset": "2min"})
>>> cfg.fault.onset, cfg.block_samples
(120.0, 25600)
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfloor.model import BearingGeometry, parse_duration_s, parse_time
from shopfloor.sim.cnc.nodes import SIGNAL_NAMES

__all__ = [
    "DEFAULT_SPINDLE_BEARING",
    "CncSimConfig",
    "DriveConfig",
    "FaultConfig",
    "FaultType",
    "GrowthModel",
    "ProgramConfig",
    "SecurityMode",
    "SensorFault",
    "SensorStatus",
    "ThermalConfig",
    "VibrationConfig",
    "parse_time_or_offset",
]

DEFAULT_SPINDLE_BEARING = BearingGeometry(
    n_elements=17, element_diameter_mm=11.1, pitch_diameter_mm=89.0, contact_angle_deg=15.0
)
"""An angular-contact spindle bearing (7014-like): BPFO 7.48x, BPFI 9.52x, BSF 3.95x."""

_MACHINE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,31}")


def parse_time_or_offset(value: Any, what: str) -> float | datetime:
    """Read a time given as seconds after start (``120``, ``"2min"``) or as UTC.

    Strings like ``120s``, ``5min``, ``1h`` (or a bare number) are offsets in seconds;
    ISO 8601 text (``2025-01-31T08:00:00Z``; no zone means UTC) is an absolute time.
    Aware ``datetime`` values are converted to UTC; naive ones are refused.

    Examples
    --------
    >>> parse_time_or_offset("90s", "onset")
    90.0
    >>> parse_time_or_offset("2025-01-31T08:00:00+01:00", "onset").isoformat()
    '2025-01-31T07:00:00+00:00'
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is neither seconds after start nor a UTC time")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} {value.isoformat()} has no time zone")
        return value.astimezone(UTC)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = parse_duration_s(text)
        except ValueError:
            try:
                return parse_time(text)
            except ValueError:
                raise ValueError(
                    f"{what} {value!r} is neither a duration after start (120s, 5min) "
                    "nor an ISO 8601 UTC time (2025-01-31T08:00:00Z)"
                ) from None
    else:
        raise ValueError(f"{what} {value!r} is neither seconds after start nor a UTC time")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{what} {value!r} must be >= 0 seconds after start")
    return seconds


class FaultType(StrEnum):
    """Which bearing defect is injected."""

    NONE = "none"
    OUTER_RACE = "outer_race"
    INNER_RACE = "inner_race"
    BALL = "ball"


class GrowthModel(StrEnum):
    """How fault severity grows from ``initial_severity`` to 1 over ``growth_s``."""

    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class SecurityMode(StrEnum):
    """OPC UA message security offered by the server (policy Basic256Sha256)."""

    NONE = "none"
    SIGN = "sign"
    ENCRYPT = "encrypt"


class SensorStatus(StrEnum):
    """Status codes a simulated sensor failure can publish (names as in OPC UA Part 4)."""

    BAD_SENSOR_FAILURE = "BadSensorFailure"
    BAD_COMMUNICATION_ERROR = "BadCommunicationError"
    BAD_OUT_OF_SERVICE = "BadOutOfService"
    UNCERTAIN_LAST_USABLE_VALUE = "UncertainLastUsableValue"
    UNCERTAIN_SENSOR_NOT_ACCURATE = "UncertainSensorNotAccurate"

    @property
    def is_bad(self) -> bool:
        """True for the Bad codes (the value is then null)."""
        return self.value.startswith("Bad")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProgramConfig(_Section):
    """The repeating machining cycle: idle, tool change, roughing, tool change, finishing.

    Each machining operation ramps the spindle up at ``spindle_accel_rpm_s``, approaches
    for 1 s, engages over 0.5 s, cuts, disengages, retracts for 1 s and ramps down, so a
    cycle starts and ends with the spindle at rest.
    """

    number: int = Field(default=1001, ge=0, description="NC program number (O-number).")
    idle_s: float = Field(default=10.0, ge=2.0, description="Part change, spindle stopped.")
    tool_change_s: float = Field(default=4.0, ge=2.0, description="Each tool change.")
    roughing_s: float = Field(default=30.0, gt=0)
    roughing_rpm: float = Field(default=8000.0, gt=0, le=60000)
    roughing_tool: int = Field(default=1, ge=1)
    roughing_teeth: int = Field(default=4, ge=1, le=20, description="Cutter teeth (flutes).")
    roughing_load_pct: float = Field(default=65.0, ge=0, le=150)
    finishing_s: float = Field(default=20.0, gt=0)
    finishing_rpm: float = Field(default=12000.0, gt=0, le=60000)
    finishing_tool: int = Field(default=2, ge=1)
    finishing_teeth: int = Field(default=6, ge=1, le=20)
    finishing_load_pct: float = Field(default=30.0, ge=0, le=150)
    spindle_accel_rpm_s: float = Field(default=4000.0, gt=0, description="Ramp rate.")

    @model_validator(mode="after")
    def _check_fits(self) -> Self:
        for op in ("roughing", "finishing"):
            duration = getattr(self, f"{op}_s")
            ramp = getattr(self, f"{op}_rpm") / self.spindle_accel_rpm_s
            needed = 2 * ramp + 2 * 1.0 + 2 * 0.5 + 1.0
            if duration < needed:
                raise ValueError(
                    f"{op}_s={duration} is too short: ramping to {getattr(self, f'{op}_rpm')} rpm "
                    f"at {self.spindle_accel_rpm_s} rpm/s needs at least {needed:.1f} s"
                )
        return self

    @property
    def cycle_s(self) -> float:
        """Length of one machining cycle in seconds."""
        return self.idle_s + 2 * self.tool_change_s + self.roughing_s + self.finishing_s


class DriveConfig(_Section):
    """The spindle drive: a belt stage from the motor, and optionally a gear stage."""

    motor_order: float = Field(
        default=0.75, gt=0, description="Motor speed / spindle speed (belt step-up)."
    )
    belt_order: float = Field(
        default=0.314, gt=0, description="Belt pass frequency / spindle speed (pi*D/L)."
    )
    gear_teeth: int = Field(
        default=0, ge=0, le=200, description="Teeth of a spindle gear stage; 0 = no gear."
    )


class VibrationConfig(_Section):
    """Amplitudes (g, at ``reference_rpm`` and full load) and the structural resonances."""

    reference_rpm: float = Field(default=12000.0, gt=0)
    unbalance_g: float = Field(default=0.08, ge=0, description="1x, grows with speed squared.")
    misalignment_g: float = Field(default=0.03, ge=0, description="2x (and 3x), mostly axial.")
    drive_g: float = Field(default=0.02, ge=0, description="Motor 1x and belt lines.")
    gear_mesh_g: float = Field(default=0.05, ge=0, description="Gear mesh when gear_teeth > 0.")
    tooth_pass_g: float = Field(default=0.4, ge=0, description="Cutter tooth passing at 100 %.")
    process_noise_g: float = Field(default=0.02, ge=0, description="Broadband while spinning.")
    cutting_noise_g: float = Field(default=0.12, ge=0, description="Broadband at 100 % load.")
    sensor_noise_g: float = Field(default=0.003, ge=0, description="Accelerometer noise floor.")
    resonance_hz: tuple[float, float, float] = Field(
        default=(4200.0, 4700.0, 3500.0), description="Structural resonance seen by X, Y, Z."
    )
    damping_ratio: float = Field(default=0.1, gt=0, lt=0.5)
    axis_gain: tuple[float, float, float] = Field(
        default=(1.0, 0.7, 0.4), description="Bearing-impact response of X, Y, Z (load on X)."
    )

    @field_validator("resonance_hz")
    @classmethod
    def _positive(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (v > 0) for v in value):
            raise ValueError(f"resonance_hz must be > 0, got {value}")
        return value


class ThermalConfig(_Section):
    """Spindle and coolant temperatures: first-order lags driven by speed and load."""

    ambient_c: float = 21.0
    daily_swing_c: float = Field(default=1.5, ge=0, description="Amplitude over 24 h.")
    spindle_rise_c: float = Field(default=18.0, ge=0, description="At continuous full speed.")
    spindle_tau_s: float = Field(default=600.0, gt=0)
    coolant_rise_c: float = Field(default=5.0, ge=0, description="At continuous full load.")
    coolant_tau_s: float = Field(default=900.0, gt=0)
    fault_rise_c: float = Field(default=5.0, ge=0, description="Spindle rise at severity 1.")


class FaultConfig(_Section):
    """A localized bearing defect that appears at ``onset`` and grows.

    Severity is 0 before the onset, ``initial_severity`` at the onset and reaches 1 after
    ``growth_s`` (linearly, or exponentially: ``initial ** (1 - x)`` with ``x`` the
    elapsed fraction), then stays at 1.
    """

    type: FaultType = FaultType.NONE
    onset: float | datetime = Field(
        default=120.0, description="Seconds after start, or an absolute UTC time."
    )
    growth_s: float = Field(default=600.0, gt=0)
    growth: GrowthModel = GrowthModel.EXPONENTIAL
    initial_severity: float = Field(default=0.05, gt=0, le=1)
    peak_impact_g: float = Field(
        default=3.0, ge=0, description="Impact peak at severity 1 and reference speed."
    )
    slip_jitter: float = Field(
        default=0.015, ge=0, le=0.05, description="Std of impact timing, fraction of period."
    )

    @field_validator("onset", mode="before")
    @classmethod
    def _parse_onset(cls, value: Any) -> float | datetime:
        return parse_time_or_offset(value, "fault onset")


class SensorFault(_Section):
    """A window during which one signal publishes a Bad or Uncertain status."""

    signal: str = Field(description="Signal name, e.g. 'Spindle.Temperature' or 'Vibration'.")
    start: float | datetime = Field(description="Seconds after start, or an absolute UTC time.")
    duration_s: float = Field(gt=0)
    status: SensorStatus = SensorStatus.BAD_SENSOR_FAILURE

    @field_validator("start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> float | datetime:
        return parse_time_or_offset(value, "sensor fault start")

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if value != "Vibration" and value not in SIGNAL_NAMES:
            raise ValueError(
                f"signal {value!r} is not simulated; use 'Vibration' or one of: "
                + ", ".join(SIGNAL_NAMES)
            )
        return value


class CncSimConfig(BaseModel):
    """Everything the CNC simulator needs; see ``docs/simulator-cnc.md``.

    Parameters are keyword fields stored unchanged, so a config can be copied with
    ``model_copy(update=...)`` and compared.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # identity and endpoint
    machine_name: str = Field(default="CNC01", description="Prefix of every node id.")
    asset_path: str = Field(
        default="acme/plant1/machining/line1/cell1/cnc01",
        description="ISA-95 path used in offline WaveformBlocks.",
    )
    namespace_uri: str = "urn:shopfloor:sim:cnc"
    host: str = Field(default="127.0.0.1", description="Address to bind; loopback by default.")
    port: int = Field(default=4840, ge=0, le=65535, description="0 picks a free port.")

    # the model
    seed: int = Field(default=1, ge=0, lt=2**63)
    sample_rate_hz: float = Field(default=25600.0, gt=0, le=200_000)
    block_duration_s: float = Field(default=1.0, gt=0, le=10)
    start_time: datetime | None = Field(
        default=None,
        description="Machine start (anchor of a relative fault onset and of time_scale); "
        "None = when the simulator is created.",
    )
    program: ProgramConfig = ProgramConfig()
    drive: DriveConfig = DriveConfig()
    bearing: BearingGeometry = DEFAULT_SPINDLE_BEARING
    vibration: VibrationConfig = VibrationConfig()
    thermal: ThermalConfig = ThermalConfig()
    fault: FaultConfig = FaultConfig()
    sensor_faults: tuple[SensorFault, ...] = ()

    # the server
    scalar_rate_hz: float = Field(default=10.0, gt=0, le=100)
    time_scale: float = Field(default=1.0, gt=0, le=100, description=">1 runs faster than real.")
    security: SecurityMode = SecurityMode.NONE
    security_allow_none: bool = Field(
        default=False, description="With sign/encrypt, also offer the None endpoint."
    )
    pki_dir: Path = Field(
        default=Path(".shopfloor/sim-pki"), description="Server key and certificate live here."
    )
    trust_dir: Path | None = Field(
        default=None, description="Trusted client certificates (DER/PEM); None trusts all."
    )
    history: bool = True
    history_period_s: float = Field(default=600.0, gt=0, description="Scalar history kept.")
    history_waveform_blocks: int = Field(
        default=60, ge=0, description="Vibration blocks kept per axis (0 = none)."
    )
    ground_truth_path: Path | None = None
    writes_log_path: Path | None = Field(
        default=None,
        description="JSON lines of received writes; default: next to the ground truth.",
    )

    @field_validator("machine_name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _MACHINE_NAME.fullmatch(value):
            raise ValueError(
                f"machine_name {value!r} must start with a letter and have up to 32 "
                "letters, digits, '_' or '-'"
            )
        return value

    @field_validator("start_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"start_time {value.isoformat()} has no time zone")
        return None if value is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        n = self.sample_rate_hz * self.block_duration_s
        if abs(n - round(n)) > 1e-6 or round(n) < 64:
            raise ValueError(
                f"sample_rate_hz * block_duration_s must be a whole number of samples >= 64, "
                f"got {self.sample_rate_hz} * {self.block_duration_s} = {n}"
            )
        if abs(self.block_duration_s * 1e9 - round(self.block_duration_s * 1e9)) > 1e-3:
            raise ValueError(f"block_duration_s={self.block_duration_s} is not whole nanoseconds")
        nyquist = self.sample_rate_hz / 2
        for axis, f in zip("XYZ", self.vibration.resonance_hz, strict=True):
            if f >= 0.9 * nyquist:
                raise ValueError(
                    f"vibration.resonance_hz for {axis} ({f} Hz) must be below 0.9 x Nyquist "
                    f"({0.9 * nyquist:.0f} Hz at sample_rate_hz={self.sample_rate_hz})"
                )
        if self.program.cycle_s < 2 * self.block_duration_s + 1:
            raise ValueError(
                f"the program cycle ({self.program.cycle_s} s) must be longer than two blocks"
            )
        return self

    @property
    def block_samples(self) -> int:
        """Samples per vibration block and axis."""
        return round(self.sample_rate_hz * self.block_duration_s)

    @property
    def block_ns(self) -> int:
        """Length of a vibration block in nanoseconds."""
        return round(self.block_duration_s * 1e9)
