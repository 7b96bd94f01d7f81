"""A CNC machining centre simulator: a pure model and an OPC UA server.

- :class:`CncSimConfig` - every setting, with defaults (``config.py``);
- :class:`CncMachineModel` - the machine as a pure function of time: operating state,
  scalars and tri-axial spindle vibration blocks, offline and faster than real time
  (``machine.py``, ``program.py``, ``vibration.py``);
- :class:`CncSimServer` - the model served over OPC UA with history, security, sensor
  failures and a record of alarm write-backs (``server.py``; imports asyncua lazily);
- ``python -m shopfloor.sim.cnc`` / ``shopfloor sim cnc`` - the command line
  (``command.py``, ``runner.py``).

See ``docs/simulator-cnc.md`` for the physics, the node list and the ground-truth format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopfloor.sim.cnc.config import (
    CncSimConfig,
    FaultConfig,
    FaultType,
    GrowthModel,
    ProgramConfig,
    SecurityMode,
    SensorFault,
    SensorStatus,
)
from shopfloor.sim.cnc.machine import CncMachineModel, MachineState
from shopfloor.sim.cnc.nodes import NODES, NodeSpec
from shopfloor.sim.cnc.program import ProgramState
from shopfloor.sim.cnc.vibration import BlockKinematics, generate_block

if TYPE_CHECKING:
    from shopfloor.sim.cnc.server import CncSimServer, WriteRecord

__all__ = [
    "NODES",
    "BlockKinematics",
    "CncMachineModel",
    "CncSimConfig",
    "CncSimServer",
    "FaultConfig",
    "FaultType",
    "GrowthModel",
    "MachineState",
    "NodeSpec",
    "ProgramConfig",
    "ProgramState",
    "SecurityMode",
    "SensorFault",
    "SensorStatus",
    "WriteRecord",
    "generate_block",
]


def __getattr__(name: str) -> Any:
    """Import the server (and asyncua) only when it is used."""
    if name in ("CncSimServer", "WriteRecord"):
        from shopfloor.sim.cnc import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
