"""The packaging line's PLC over Modbus TCP: line state, counts and the reject gate.

A :class:`~shopfloor.sim.modbus.ModbusSimServer` (with no live registers of its own)
holds the line's state, updated after every part, and takes reject requests:

=================  =======================  ==============================================
address            type                      content
=================  =======================  ==============================================
holding:0          uint16                    line speed, parts per minute
holding:10         uint32 (2 registers)      reject request: the id of a part to reject
                                             (written by the platform; the line sets it
                                             back to 0 once the gate has fired)
input:0            uint32 (2 registers)      parts produced
input:2            uint32 (2 registers)      parts rejected
input:4            uint32 (2 registers)      good parts rejected (wrong rejects)
input:6            uint32 (2 registers)      id of the last part the camera saw
coil:0             bool                      line running
=================  =======================  ==============================================

Words are big-endian, the high word first (the common PLC layout). A reject request
for a part that is no longer at the gate (or was never made) is cleared and counted in
``unknown_rejects``, as a real gate would drop it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from shopfloor.sim.modbus import ModbusSimConfig, ModbusSimServer
from shopfloor.sim.packaging.line import PackagingLine

__all__ = ["REGISTERS", "PackagingPlc"]

REGISTERS = {
    "speed_ppm": "holding:0",
    "reject_request": "holding:10",
    "produced": "input:0",
    "rejected": "input:2",
    "rejected_good": "input:4",
    "last_part": "input:6",
    "running": "coil:0",
}
"""Where the line keeps its state (see the module docstring for types)."""


def _u32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


class PackagingPlc:
    """The line's Modbus device on loopback; ``async with`` starts and stops it."""

    def __init__(self, line: PackagingLine, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.line = line
        self.server = ModbusSimServer(
            ModbusSimConfig(host=host, port=port, registers=64, bits=16, period_s=0)
        )
        self.unknown_rejects = 0

    @property
    def port(self) -> int:
        """Where it listens."""
        return self.server.port

    async def __aenter__(self) -> Self:
        await self.server.start()
        speed_ppm = round(self.line.config.speed_parts_s * 60)
        await self.server.write("holding", 0, [min(speed_ppm, 65535)])
        await self.server.write("coil", 0, [True])
        await self.sync()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.server.write("coil", 0, [False])
        await self.server.stop()

    async def sync(self, last_part: int = 0) -> None:
        """Fire the gate for a pending reject request, then publish the counts."""
        high, low = await self.server.read("holding", 10, 2)
        request = high << 16 | low
        if request:
            try:
                self.line.reject(request)
            except KeyError:
                self.unknown_rejects += 1
            await self.server.write("holding", 10, [0, 0])
        c = self.line.counts
        await self.server.write(
            "input",
            0,
            [
                *_u32(c.produced),
                *_u32(c.rejected),
                *_u32(c.rejected_good),
                *_u32(last_part),
            ],
        )
