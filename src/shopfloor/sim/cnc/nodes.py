"""The simulator's address space as data: every signal, its type, unit and description.

Pure data, no asyncua: the server builds OPC UA nodes from :data:`NODES`, the CLI prints
them, and the ground truth lists them. Node ids are ``ns=<i>;s=<machine>.<name>``, e.g.
``ns=2;s=CNC01.Spindle.Speed``; the folders follow the dots.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "NODES",
    "SIGNAL_NAMES",
    "UNECE_UNITS",
    "VIBRATION_AXES",
    "DataType",
    "NodeKind",
    "NodeSpec",
    "node_spec",
    "unece_unit_id",
]


class DataType(StrEnum):
    """OPC UA built-in data types used by the simulator."""

    BOOLEAN = "Boolean"
    INT32 = "Int32"
    UINT32 = "UInt32"
    DOUBLE = "Double"
    STRING = "String"


class NodeKind(StrEnum):
    """What a node carries and who writes it."""

    SCALAR = "scalar"
    """Measured or controller state, updated at ``scalar_rate_hz``."""
    WAVEFORM = "waveform"
    """One array of Double per vibration block."""
    CONSTANT = "constant"
    """Set at start (sample rate)."""
    SETPOINT = "setpoint"
    """Written by clients (alarm write-back); recorded by the simulator."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One variable of the simulated machine.

    Parameters
    ----------
    name
        Dotted path below the machine object, e.g. ``Spindle.Speed``.
    data_type
        OPC UA built-in type of the value (of each element for waveforms).
    kind
        Who writes it and how often.
    unit
        Unit in shopfloor spelling (pint understands it), or ``None``.
    description
        Human text, exported as the node's Description.
    eu_range
        Normal operating range (the ``EURange`` property of analog items).
    """

    name: str
    data_type: DataType
    kind: NodeKind
    unit: str | None
    description: str
    eu_range: tuple[float, float] | None = None

    @property
    def writable(self) -> bool:
        """Clients may write it."""
        return self.kind is NodeKind.SETPOINT

    @property
    def is_array(self) -> bool:
        """The value is a one-dimensional array."""
        return self.kind is NodeKind.WAVEFORM

    @property
    def historized(self) -> bool:
        """The server keeps history for it (when history is on)."""
        return self.kind in (NodeKind.SCALAR, NodeKind.WAVEFORM)

    def node_id(self, machine: str, ns: int) -> str:
        """Return the node id text, e.g. ``ns=2;s=CNC01.Spindle.Speed``."""
        return f"ns={ns};s={machine}.{self.name}"


VIBRATION_AXES = ("X", "Y", "Z")

NODES: tuple[NodeSpec, ...] = (
    NodeSpec("Spindle.Speed", DataType.DOUBLE, NodeKind.SCALAR, "rpm",
             "Measured spindle speed", (0.0, 15000.0)),
    NodeSpec("Spindle.Load", DataType.DOUBLE, NodeKind.SCALAR, "%",
             "Spindle drive load, percent of rated torque", (0.0, 150.0)),
    NodeSpec("Spindle.Temperature", DataType.DOUBLE, NodeKind.SCALAR, "°C",
             "Spindle housing temperature near the front bearing", (0.0, 80.0)),
    NodeSpec("Axes.X.Position", DataType.DOUBLE, NodeKind.SCALAR, "mm",
             "X axis actual position (machine coordinates)", (-400.0, 400.0)),
    NodeSpec("Axes.Y.Position", DataType.DOUBLE, NodeKind.SCALAR, "mm",
             "Y axis actual position (machine coordinates)", (-300.0, 300.0)),
    NodeSpec("Axes.Z.Position", DataType.DOUBLE, NodeKind.SCALAR, "mm",
             "Z axis actual position (machine coordinates; part top at 0)", (-50.0, 300.0)),
    NodeSpec("Axes.FeedRate", DataType.DOUBLE, NodeKind.SCALAR, "mm/min",
             "Actual path feed rate", (0.0, 60000.0)),
    NodeSpec("Program.Number", DataType.INT32, NodeKind.SCALAR, None,
             "Active NC program number"),
    NodeSpec("Program.State", DataType.STRING, NodeKind.SCALAR, None,
             "Operating state: IDLE, TOOL_CHANGE, ROUGHING or FINISHING"),
    NodeSpec("Program.StateCode", DataType.INT32, NodeKind.SCALAR, None,
             "Operating state as a code: 0 idle, 1 tool change, 2 roughing, 3 finishing"),
    NodeSpec("Program.PartCount", DataType.UINT32, NodeKind.SCALAR, None,
             "Parts finished since 00:00 UTC"),
    NodeSpec("Tool.Number", DataType.INT32, NodeKind.SCALAR, None,
             "Tool in the spindle"),
    NodeSpec("Coolant.Temperature", DataType.DOUBLE, NodeKind.SCALAR, "°C",
             "Coolant tank temperature", (0.0, 60.0)),
    *(
        NodeSpec(f"Vibration.Accel{axis}", DataType.DOUBLE, NodeKind.WAVEFORM, "g",
                 f"Spindle accelerometer, {axis} axis: one block of samples per update; "
                 "SourceTimestamp is the time of the first sample", (-50.0, 50.0))
        for axis in VIBRATION_AXES
    ),
    NodeSpec("Vibration.SampleRate", DataType.DOUBLE, NodeKind.CONSTANT, "Hz",
             "Sample rate of the accelerometer blocks", (0.0, 200000.0)),
    NodeSpec("Alarm.Active", DataType.BOOLEAN, NodeKind.SETPOINT, None,
             "Written by the platform: an alarm is active for this machine"),
    NodeSpec("Alarm.Message", DataType.STRING, NodeKind.SETPOINT, None,
             "Written by the platform: alarm text for the operator"),
    NodeSpec("Alarm.Severity", DataType.INT32, NodeKind.SETPOINT, None,
             "Written by the platform: alarm severity (1-1000, as OPC UA events)"),
    NodeSpec("Alarm.Code", DataType.INT32, NodeKind.SETPOINT, None,
             "Written by the platform: alarm code"),
)  # fmt: skip
"""Every variable, in browse order."""

SIGNAL_NAMES: tuple[str, ...] = tuple(spec.name for spec in NODES)

_BY_NAME = {spec.name: spec for spec in NODES}


def node_spec(name: str) -> NodeSpec:
    """Return the spec of ``name``; ``KeyError`` lists the known names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no simulated node {name!r} (known: {', '.join(SIGNAL_NAMES)})") from None


UNECE_UNITS: dict[str, tuple[str, str]] = {
    "rpm": ("RPM", "revolutions per minute"),
    "%": ("P1", "percent"),
    "°C": ("CEL", "degree Celsius"),
    "mm": ("MMT", "millimetre"),
    "mm/min": ("H81", "millimetre per minute"),
    "g": ("K40", "standard acceleration of free fall"),
    "Hz": ("HTZ", "hertz"),
}
"""Shopfloor unit → (UN/CEFACT common code, name) for the OPC UA EngineeringUnits."""


def unece_unit_id(common_code: str) -> int:
    """Return the ``EUInformation.UnitId`` of a UN/CEFACT common code (OPC UA Part 8).

    Examples
    --------
    >>> unece_unit_id("RPM")
    5394509
    """
    unit_id = 0
    for char in common_code[:4]:
        unit_id = (unit_id << 8) | ord(char)
    return unit_id
