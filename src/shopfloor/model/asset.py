"""Assets, named by their ISA-95 path ``enterprise/site/area/line/cell/asset``.

The path is the asset's identity everywhere: in the store, on the bus (the Unified
Namespace topic is built from it) and in the UI.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shopfloor.model.paths import ISA95_LEVELS, AssetPath, validate_asset_path, validate_segment
from shopfloor.model.signal import Signal

__all__ = [
    "ISA95_LEVELS",
    "Asset",
    "AssetPath",
    "BearingGeometry",
    "validate_asset_path",
    "validate_segment",
]


class BearingGeometry(BaseModel):
    """Rolling-element bearing geometry, from which the defect frequencies follow.

    Examples
    --------
    CWRU's drive-end SKF 6205:

    >>> b = BearingGeometry(n_elements=9, element_diameter_mm=7.94,
    ...                     pitch_diameter_mm=39.04, contact_angle_deg=0.0)
    >>> round(b.bpfo_order, 2)
    3.58
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_elements: int = Field(gt=0, description="Number of balls or rollers.")
    element_diameter_mm: float = Field(gt=0, description="Ball or roller diameter.")
    pitch_diameter_mm: float = Field(gt=0, description="Pitch circle diameter.")
    contact_angle_deg: float = Field(default=0.0, ge=0, lt=90)

    @property
    def _ratio(self) -> float:
        import math

        return (self.element_diameter_mm / self.pitch_diameter_mm) * math.cos(
            math.radians(self.contact_angle_deg)
        )

    @property
    def bpfo_order(self) -> float:
        """Ball-pass frequency, outer race, as a multiple of shaft speed."""
        return self.n_elements / 2 * (1 - self._ratio)

    @property
    def bpfi_order(self) -> float:
        """Ball-pass frequency, inner race, as a multiple of shaft speed."""
        return self.n_elements / 2 * (1 + self._ratio)

    @property
    def bsf_order(self) -> float:
        """Ball (roller) spin frequency as a multiple of shaft speed."""
        return self.pitch_diameter_mm / (2 * self.element_diameter_mm) * (1 - self._ratio**2)

    @property
    def ftf_order(self) -> float:
        """Fundamental train (cage) frequency as a multiple of shaft speed."""
        return 0.5 * (1 - self._ratio)


class Asset(BaseModel):
    """A machine or part of one, with its signals.

    Attributes carry what models and features need to know about the machine: bearing
    geometry, nominal speed, machine class for ISO 10816/20816 zones, and free-form keys.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: AssetPath
    type: str = Field(default="machine", description="Kind of asset, e.g. 'cnc_machining_centre'.")
    description: str = ""
    bearing: BearingGeometry | None = None
    nominal_speed_rpm: float | None = Field(default=None, gt=0)
    attributes: dict[str, Any] = Field(default_factory=dict)
    signals: list[Signal] = Field(default_factory=list)

    def signal(self, name: str) -> Signal:
        """Return the signal called ``name``; ``KeyError`` names the known ones."""
        for signal in self.signals:
            if signal.name == name:
                return signal
        known = ", ".join(s.name for s in self.signals) or "none"
        raise KeyError(f"asset {self.path!r} has no signal {name!r} (known: {known})")
