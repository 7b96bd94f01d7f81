"""Signals: what is measured on an asset, and how."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shopfloor.model.paths import validate_asset_path, validate_segment
from shopfloor.model.units import validate_unit

__all__ = ["SCALAR_DTYPES", "Signal", "SignalKind", "SignalRef", "Unit"]


def _validate_name(value: str) -> str:
    return validate_segment(value, what="signal name")


SCALAR_DTYPES = ("float64", "float32", "int64", "int32", "int16", "uint16", "uint8", "bool")

Unit = Annotated[str, AfterValidator(validate_unit)]
"""A unit string pint understands (``mm/s``, ``g``, ``rpm``, ``degC``, ``''`` for none)."""


class SignalKind(StrEnum):
    """What one value of the signal is."""

    SCALAR = "scalar"
    """One number per timestamp (speed, temperature, load)."""
    WAVEFORM = "waveform"
    """Blocks of samples at a fixed rate (vibration, current, acoustic)."""
    IMAGE = "image"
    """Encoded images (PNG, JPEG) from a camera."""
    EVENT = "event"
    """Discrete happenings (program change, alarm, tool change) with attributes."""


class Signal(BaseModel):
    """One measured or derived quantity of an asset.

    Examples
    --------
    >>> Signal(name="spindle_accel", kind="waveform", unit="g", sample_rate_hz=25600,
    ...        channels=["x", "y", "z"]).n_channels
    3
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_validate_name)]
    kind: SignalKind = SignalKind.SCALAR
    unit: Unit = ""
    dtype: str = Field(default="float64", description="Value type on the wire and in the store.")
    sample_rate_hz: float | None = Field(default=None, gt=0, description="Waveforms: nominal rate.")
    channels: list[str] | None = Field(default=None, description="Waveforms: channel names.")
    description: str = ""
    connector: str | None = Field(default=None, description="Name of the connector that reads it.")
    source: str | None = Field(default=None, description="Address at the source (node id, column).")
    source_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Connector-specific options (sampling interval, deadband, ...).",
    )
    valid_range: tuple[float, float] | None = Field(
        default=None, description="Values outside [low, high] are rejected to the dead letters."
    )
    allow_nan: bool = Field(default=False, description="Accept NaN and infinity as values.")
    retention_days: float | None = Field(default=None, gt=0, description="Keep data this long.")

    @model_validator(mode="after")
    def _check_kind(self) -> Self:
        if self.kind == SignalKind.WAVEFORM and self.sample_rate_hz is None:
            raise ValueError(f"waveform signal {self.name!r} needs sample_rate_hz")
        if self.kind != SignalKind.WAVEFORM and self.channels is not None:
            raise ValueError(f"only waveform signals have channels ({self.name!r} is {self.kind})")
        if (
            self.kind in (SignalKind.SCALAR, SignalKind.WAVEFORM)
            and self.dtype not in SCALAR_DTYPES
        ):
            import numpy as np  # other spellings only: a project file loads without numpy

            try:
                dtype = np.dtype(self.dtype)
            except TypeError as err:
                raise ValueError(f"dtype {self.dtype!r} is not a numpy dtype") from err
            if dtype.name not in SCALAR_DTYPES:
                raise ValueError(f"dtype {self.dtype!r} is not one of {', '.join(SCALAR_DTYPES)}")
        if self.valid_range is not None:
            low, high = self.valid_range
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(
                    f"valid_range must be finite with low < high, got {self.valid_range}"
                )
        return self

    @property
    def n_channels(self) -> int:
        """Number of channels of a waveform (1 when not given)."""
        return len(self.channels) if self.channels else 1

    @property
    def retention_s(self) -> float | None:
        """Retention in seconds, or ``None`` to keep everything."""
        return None if self.retention_days is None else self.retention_days * 86400.0


class SignalRef(tuple[str, str]):
    """The identity of a signal: ``(asset path, signal name)``.

    A tuple, so it hashes fast and compares by value; its text form is the asset path
    followed by the signal name, e.g. ``acme/p1/machining/l1/c1/cnc-01/spindle_speed``.

    Examples
    --------
    >>> ref = SignalRef.parse("acme/p1/machining/l1/c1/cnc-01/spindle_speed")
    >>> ref.asset, ref.name
    ('acme/p1/machining/l1/c1/cnc-01', 'spindle_speed')
    """

    __slots__ = ()

    def __new__(cls, asset: str, name: str) -> SignalRef:
        """Build from the asset path and signal name (not validated; see ``checked``)."""
        return super().__new__(cls, (asset, name))

    @property
    def asset(self) -> str:
        """The ISA-95 asset path."""
        return self[0]

    @property
    def name(self) -> str:
        """The signal name within the asset."""
        return self[1]

    @property
    def path(self) -> str:
        """``asset/name``."""
        return f"{self[0]}/{self[1]}"

    @classmethod
    def parse(cls, text: str) -> SignalRef:
        """Parse ``enterprise/site/area/line/cell/asset/signal``; ``ValueError`` when wrong."""
        asset, _, name = text.strip("/").rpartition("/")
        return cls(validate_asset_path(asset), _validate_name(name))

    @classmethod
    def checked(cls, asset: str, name: str) -> SignalRef:
        """Build a reference after validating both parts."""
        return cls(validate_asset_path(asset), _validate_name(name))

    def __repr__(self) -> str:
        return f"SignalRef({self[0]!r}, {self[1]!r})"

    def __str__(self) -> str:
        return self.path
