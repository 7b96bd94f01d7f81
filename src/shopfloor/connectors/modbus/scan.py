"""Look into a Modbus device before connecting it: which addresses answer, and with what.

Modbus has no browsing: a device answers a read of addresses it has and refuses the
others (exception 2). :func:`scan_range` reads a range in requests as large as the
protocol allows and halves every refused request until it knows, address by address,
what answers. Each register is shown raw and decoded the ways a register commonly reads
(int16, uint16, and float32 with the next register in either word order), so the right
type and order can be picked by eye; :func:`scan_signals` turns what answered into
signal definitions to paste into the project.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from shopfloor.connectors.modbus.address import BIT_TABLES, Table
from shopfloor.connectors.modbus.client import DeviceRefused, ModbusLink
from shopfloor.connectors.modbus.config import MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ

__all__ = ["ScannedAddress", "scan_range", "scan_signals"]


@dataclass(frozen=True)
class ScannedAddress:
    """One address that answered, with its value read several ways.

    ``float32`` reads this register and the next as ``big`` word order (ABCD),
    ``float32_swapped`` as ``little`` (CDAB); both are ``None`` for the last register of
    a run, and for coils and discrete inputs.
    """

    table: Table
    address: int
    unit: int
    raw: int
    int16: int | None = None
    uint16: int | None = None
    float32: float | None = None
    float32_swapped: float | None = None


async def _answers(
    link: ModbusLink, table: Table, start: int, count: int, unit: int
) -> list[tuple[int, int]]:
    """``(address, value)`` of every address in the range that answers (halving refusals)."""
    answer = await link.read(table, start, count, unit)
    if not isinstance(answer, DeviceRefused):
        return list(zip(range(start, start + count), answer, strict=True))
    if count == 1:
        return []
    half = count // 2
    return [
        *await _answers(link, table, start, half, unit),
        *await _answers(link, table, start + half, count - half, unit),
    ]


def _float32(high: int, low: int) -> float | None:
    value: float = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    return float(f"{value:.7g}") if math.isfinite(value) else None  # float32's precision


async def scan_range(
    link: ModbusLink, table: Table, start: int, count: int, unit: int
) -> list[ScannedAddress]:
    """Every address of ``table`` in ``[start, start + count)`` that answers on ``unit``.

    Raises
    ------
    ConnectorNotReady
        The device stops answering altogether.
    """
    step = MAX_BITS_PER_READ if table in BIT_TABLES else MAX_REGISTERS_PER_READ
    end = min(start + count, 0x10000)
    found: list[tuple[int, int]] = []
    for first in range(start, end, step):
        found += await _answers(link, table, first, min(step, end - first), unit)
    if table in BIT_TABLES:
        return [ScannedAddress(table, address, unit, value) for address, value in found]
    values = dict(found)
    out = []
    for address, raw in found:
        following = values.get(address + 1)
        pair = following is not None
        out.append(
            ScannedAddress(
                table,
                address,
                unit,
                raw,
                raw - 0x10000 if raw >= 0x8000 else raw,
                raw,
                _float32(raw, following) if pair and following is not None else None,
                _float32(following, raw) if pair and following is not None else None,
            )
        )
    return out


def scan_signals(found: list[ScannedAddress], connector: str, default_unit: int = 1) -> str:
    """YAML of one signal per address that answered, for an asset's ``signals:``.

    Registers are exported as ``uint16``: set each one's type, byte and word order (the
    scan's float32 columns hint at them) and drop the second register of wide values.
    """
    import yaml

    signals: list[dict[str, Any]] = []
    for item in found:
        unit = "" if item.unit == default_unit else f"@{item.unit}"
        signal: dict[str, Any] = {
            "name": f"{item.table}_{item.address}" + (f"_u{item.unit}" if unit else ""),
            "connector": connector,
            "source": f"{item.table}:{item.address}{unit}",
        }
        if item.table not in BIT_TABLES:
            signal["source_options"] = {"type": "uint16"}
        signals.append(signal)
    head = (
        "# exported by shopfloor modbus scan: paste under an asset's 'signals:'\n"
        "# registers are read as uint16: set type (int16, float32, ...), byte_order and\n"
        "# word_order where the scan's decoded columns show the real value, remove the\n"
        "# second register of 32- and 64-bit values, and rename the signals\n"
    )
    return head + yaml.safe_dump(signals, sort_keys=False)
