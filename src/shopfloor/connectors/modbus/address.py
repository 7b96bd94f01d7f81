"""Where a tag lives on a Modbus device: ``table:address[.bit][@unit]``.

The four tables are ``holding`` and ``input`` registers (16 bits each) and ``coil`` and
``discrete`` inputs (one bit each). Addresses are the protocol's, counted from 0 (the
register a manual calls 40001 is ``holding:0``). ``.bit`` picks one bit of a register (a
``bitfield``); ``@unit`` gives the unit id (slave id) of this tag, when it differs from
its polling group's and the connector's.

Examples
--------
>>> parse_address("holding:100.3@2")
Address(table='holding', address=100, bit=3, unit=2)
>>> str(parse_address("HR:7"))
'holding:7'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["BIT_TABLES", "TABLES", "Address", "Table", "parse_address"]

Table = Literal["holding", "input", "coil", "discrete"]
TABLES: tuple[Table, ...] = ("holding", "input", "coil", "discrete")
BIT_TABLES = frozenset({"coil", "discrete"})
"""Tables of single bits (read 2000 at a time); the others hold 16-bit registers."""

_ALIASES: dict[str, Table] = {
    "holding": "holding",
    "hr": "holding",
    "input": "input",
    "ir": "input",
    "coil": "coil",
    "coils": "coil",
    "co": "coil",
    "discrete": "discrete",
    "di": "discrete",
}
_PATTERN = re.compile(r"^\s*([a-z]+)\s*:\s*(\d+)(?:\.(\d+))?(?:\s*@\s*(\d+))?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed tag address; its text form is the canonical spelling."""

    table: Table
    address: int
    bit: int | None = None
    unit: int | None = None

    @property
    def is_bit(self) -> bool:
        """Whether the table holds single bits (coils, discrete inputs)."""
        return self.table in BIT_TABLES

    def __str__(self) -> str:
        text = f"{self.table}:{self.address}"
        if self.bit is not None:
            text += f".{self.bit}"
        if self.unit is not None:
            text += f"@{self.unit}"
        return text


def parse_address(text: str) -> Address:
    """Parse ``table:address[.bit][@unit]``.

    Raises
    ------
    ValueError
        Naming the text and what is wrong with it.
    """
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"address {text!r} must look like holding:100, input:3.7 or coil:12@2 "
            "(table:address[.bit][@unit])"
        )
    name, number, bit, unit = match.groups()
    table = _ALIASES.get(name.lower())
    if table is None:
        raise ValueError(f"address {text!r}: table {name!r} is not one of {', '.join(TABLES)}")
    address = int(number)
    if address > 0xFFFF:
        raise ValueError(f"address {text!r}: {address} is past 65535")
    if bit is not None and (table in BIT_TABLES or int(bit) > 15):
        where = "a coil or discrete input has no bits" if table in BIT_TABLES else "bits are 0..15"
        raise ValueError(f"address {text!r}: {where}")
    if unit is not None and int(unit) > 255:
        raise ValueError(f"address {text!r}: unit {unit} is past 255")
    return Address(
        table,
        address,
        None if bit is None else int(bit),
        None if unit is None else int(unit),
    )
