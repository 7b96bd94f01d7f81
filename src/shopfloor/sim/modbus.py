"""A simulated Modbus TCP device (pymodbus server) with a few live registers.

Every unit id answers from the same memory: ``registers`` holding and input registers and
``bits`` coils and discrete inputs from address 0; anything past them, and the holding
registers in ``holes``, is answered with exception 2 (illegal data address), as a real
device does for addresses it does not have. Tests write any register or bit with
:meth:`ModbusSimServer.write`. A few registers change on their own every ``period_s``
(the state of a small line):

=================  ======================  ====================================
address            type                     content
=================  ======================  ====================================
holding:0          uint16                   cycle counter, +1 per period (wraps)
holding:1          float32 (2 registers)    temperature in degC, slow sine
holding:3          uint16, scale 0.1        speed in rpm (15000 = 1500.0 rpm)
input:0            uint32 (2 registers)     parts made
input:2.0          bitfield                 running
coil:0             bool (written)           reject gate, set by the platform
discrete:0         bool                     running
=================  ======================  ====================================

Values are a function of the wall clock, so a server stopped and started again (same
port, even one picked from port 0) continues where the clock says; what was written
survives the restart.

Examples
--------
>>> import asyncio
>>> async def main() -> list[int]:
...     async with ModbusSimServer(ModbusSimConfig(period_s=0)) as sim:
...         await sim.write("holding", 10, [7, 8])
...         return await sim.read("holding", 10, 2)
>>> asyncio.run(main())
[7, 8]
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from shopfloor.errors import ConfigError, PortInUse

__all__ = ["LIVE_REGISTERS", "ModbusSimConfig", "ModbusSimServer"]

LIVE_REGISTERS = {
    "counter": "holding:0",
    "temperature": "holding:1",
    "speed": "holding:3",
    "parts": "input:0",
    "running_bit": "input:2.0",
    "reject_gate": "coil:0",
    "running": "discrete:0",
}
"""Where the simulated line keeps its state (see the module docstring for types)."""

# function codes pymodbus's datastore files each table under
_FUNCTION = {"coil": 5, "discrete": 2, "holding": 16, "input": 4}


@dataclass(frozen=True)
class ModbusSimConfig:
    """Where the device listens and what it holds.

    Parameters
    ----------
    host, port
        Where to listen; port 0 picks a free one (kept across a restart).
    registers, bits
        Holding/input registers and coils/discrete inputs that exist, from address 0.
    holes
        ``(start, stop)`` ranges of holding registers that do not exist.
    period_s
        How often the live registers change; 0 leaves every register as written.
    """

    host: str = "127.0.0.1"
    port: int = 0
    registers: int = 1000
    bits: int = 256
    holes: tuple[tuple[int, int], ...] = ()
    period_s: float = 0.1

    def __post_init__(self) -> None:
        if not 8 <= self.registers <= 65536 or not 16 <= self.bits <= 65536:
            raise ConfigError(
                f"registers must be 8..65536 and bits 16..65536, got {self.registers} "
                f"and {self.bits}"
            )
        for start, stop in self.holes:
            if not 0 <= start < stop <= self.registers:
                raise ConfigError(f"hole ({start}, {stop}) is not inside 0..{self.registers}")


def _device(config: ModbusSimConfig) -> Any:
    from pymodbus.simulator import DataType, SimData, SimDevice

    holding = []
    start = 0
    for hole_start, hole_stop in sorted(config.holes):
        if hole_start > start:
            holding.append(
                SimData(start, count=hole_start - start, values=0, datatype=DataType.REGISTERS)
            )
        start = hole_stop
    if start < config.registers:
        holding.append(
            SimData(start, count=config.registers - start, values=0, datatype=DataType.REGISTERS)
        )
    words = config.bits // 16
    return SimDevice(
        id=0,
        simdata=(
            [SimData(0, count=words * 16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=words * 16, values=False, datatype=DataType.BITS)],
            holding,
            [SimData(0, count=config.registers, values=0, datatype=DataType.REGISTERS)],
        ),
    )


def _float32(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


class ModbusSimServer:
    """The simulated device on loopback; ``async with`` starts and stops it."""

    def __init__(self, config: ModbusSimConfig | None = None) -> None:
        self.config = config or ModbusSimConfig()
        self._port = self.config.port
        self._server: Any = None
        self._memory: Any = None
        self._ticker: asyncio.Task[None] | None = None
        self._t0 = time.monotonic()

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, when configured as 0)."""
        return self._port

    async def start(self) -> None:
        """Listen (again, on the same port and with the same memory after a stop)."""
        from pymodbus.server import ModbusTcpServer

        server = ModbusTcpServer(_device(self.config), address=(self.config.host, self._port))
        if self._memory is not None:
            server.context = self._memory  # what was written survives a restart
        self._memory = server.context
        try:
            await server.serve_forever(background=True)
        except RuntimeError as err:  # pymodbus says only that it could not listen
            raise PortInUse(self.config.host, self._port) from err
        listener = server.transport
        if not isinstance(listener, asyncio.Server) or not listener.sockets:
            raise ConfigError(f"could not listen on {self.config.host}:{self._port}")
        self._port = int(listener.sockets[0].getsockname()[1])
        self._server = server
        if self.config.period_s > 0:
            await self._tick()
            self._ticker = asyncio.create_task(self._run(), name="modbus-sim")

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def write(self, table: str, address: int, values: Sequence[int] | Sequence[bool]) -> None:
        """Set registers (or bits) of ``table`` from ``address``, as the device itself would."""
        if self._memory is None:
            raise ConfigError("the simulated device is not started")
        code = _FUNCTION[table]
        if await self._memory.async_setValues(0, code, address, list(values)):
            raise ConfigError(f"{table}:{address} (+{len(values)}) does not exist on the device")

    async def read(self, table: str, address: int, count: int = 1) -> list[int]:
        """Registers (or bits as 0/1) of ``table`` from ``address``."""
        if self._memory is None:
            raise ConfigError("the simulated device is not started")
        code = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}[table]
        values = await self._memory.async_getValues(0, code, address, count)
        if not isinstance(values, list):
            raise ConfigError(f"{table}:{address} (+{count}) does not exist on the device")
        return [int(v) for v in values]

    async def _run(self) -> None:
        period = self.config.period_s
        while True:
            await asyncio.sleep(period - (time.monotonic() - self._t0) % period)
            await self._tick()

    async def _tick(self) -> None:
        elapsed = time.monotonic() - self._t0
        cycle = int(elapsed / self.config.period_s)
        temperature = 40.0 + 5.0 * math.sin(2 * math.pi * elapsed / 60.0)
        speed = 15000 + int(50 * math.sin(2 * math.pi * elapsed / 10.0))
        parts = cycle // 5
        await self.write("holding", 0, [cycle % 65536, *_float32(temperature), speed])
        await self.write("input", 0, [parts >> 16, parts & 0xFFFF, 1])
        await self.write("discrete", 0, [True])
