"""Modbus registers to values and back: pure functions, property-tested.

A Modbus register is 16 bits; wider types span several consecutive registers. Devices
disagree on two orders, and each tag names both:

- ``byte_order``: the order of the two bytes inside each register. ``big`` (the Modbus
  standard) puts the high byte first; ``little`` swaps them.
- ``word_order``: the order of the registers of a multi-register value. ``big`` puts the
  most significant register first (at the lower address); ``little`` the least
  significant first (the "word-swapped" float32 many PLCs send).

=====================  ==========  ==========  =================================
layout of 0x41200000    byte_order  word_order  registers, lowest address first
=====================  ==========  ==========  =================================
ABCD (standard)         big         big         0x4120 0x0000
CDAB (word swap)        big         little      0x0000 0x4120
BADC (byte swap)        little      big         0x2041 0x0000
DCBA (both)             little      little      0x0000 0x2041
=====================  ==========  ==========  =================================

pymodbus's own converter swaps words but not the bytes inside a register, so the bytes
are laid out here with :mod:`struct`.

Examples
--------
>>> decode([0x0000, 0x4120], Layout("float32", word_order="little"))
10.0
>>> encode(10.0, Layout("float32", word_order="little"))
[0, 16672]
>>> decode([0x4142, 0x4300], Layout("string", count=2))
'ABC'
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "BIT_TYPES",
    "DATA_TYPES",
    "DataType",
    "Layout",
    "Order",
    "Value",
    "decode",
    "encode",
    "is_finite",
    "register_count",
    "scale_value",
    "unscale_value",
    "with_bit",
]

DataType = Literal[
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "float32",
    "float64",
    "bool",
    "bitfield",
    "string",
]
"""What a tag holds. ``bool`` is a coil or discrete input, or a register read as
``!= 0``; ``bitfield`` is one bit of a register; ``string`` is ``count`` registers of
ASCII."""

DATA_TYPES: tuple[str, ...] = get_args(DataType)
BIT_TYPES = frozenset({"bool"})
"""The only type a coil or a discrete input can have."""

Order = Literal["big", "little"]

Value = int | float | bool | str

_STRUCT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "float32": "f",
    "float64": "d",
}
_REGISTERS = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "int64": 4, "float32": 2}
_REGISTERS |= {"float64": 4, "bool": 1, "bitfield": 1}


@dataclass(frozen=True, slots=True)
class Layout:
    """How a value sits in registers.

    Parameters
    ----------
    type
        One of :data:`DATA_TYPES`.
    byte_order, word_order
        ``big`` or ``little`` (see the module docstring).
    count
        Registers of a ``string`` (ignored for other types).
    bit
        Bit of the register a ``bitfield`` reads (0 is the least significant).
    """

    type: DataType
    byte_order: Order = "big"
    word_order: Order = "big"
    count: int = 1
    bit: int = 0

    @property
    def registers(self) -> int:
        """How many registers the value spans."""
        return register_count(self.type, self.count)


def register_count(data_type: str, count: int = 1) -> int:
    """Registers one value of ``data_type`` spans (``count`` for strings).

    >>> register_count("float64"), register_count("string", 5)
    (4, 5)
    """
    if data_type == "string":
        return count
    try:
        return _REGISTERS[data_type]
    except KeyError:
        raise ValueError(f"type {data_type!r} is not one of {', '.join(DATA_TYPES)}") from None


def _to_bytes(registers: Sequence[int], layout: Layout) -> bytes:
    """The value's bytes, most significant first, from registers as the device sends them."""
    words = list(registers)
    if layout.word_order == "little":
        words.reverse()
    raw = b"".join(int(w).to_bytes(2, "big") for w in words)
    if layout.byte_order == "little":
        raw = _swap_pairs(raw)
    return raw


def _from_bytes(raw: bytes, layout: Layout) -> list[int]:
    """Registers as the device holds them, from the value's bytes (most significant first)."""
    if layout.byte_order == "little":
        raw = _swap_pairs(raw)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if layout.word_order == "little":
        words.reverse()
    return words


def _swap_pairs(raw: bytes) -> bytes:
    swapped = bytearray(raw)
    swapped[0::2], swapped[1::2] = raw[1::2], raw[0::2]
    return bytes(swapped)


def decode(registers: Sequence[int], layout: Layout) -> Value:
    """The value ``registers`` hold, as ``layout`` lays it out.

    Raises
    ------
    ValueError
        The number of registers does not match the type, a register is not 16 bits, or a
        string holds bytes that are not ASCII.

    Examples
    --------
    >>> decode([0xFFFE], Layout("int16")), decode([0x0004], Layout("bitfield", bit=2))
    (-2, True)
    """
    expected = layout.registers
    if len(registers) != expected:
        raise ValueError(
            f"{layout.type} needs {expected} registers, got {len(registers)}: {list(registers)}"
        )
    if any(not 0 <= int(r) <= 0xFFFF for r in registers):
        raise ValueError(f"registers must be 0..65535, got {list(registers)}")
    if layout.type in ("int16", "uint16"):  # the common case, without struct
        word = int(registers[0])
        if layout.byte_order == "little":
            word = ((word & 0xFF) << 8) | (word >> 8)
        return word - 0x10000 if layout.type == "int16" and word >= 0x8000 else word
    if layout.type == "bool":
        return bool(registers[0])
    if layout.type == "bitfield":
        return bool((int(registers[0]) >> layout.bit) & 1)
    raw = _to_bytes(registers, layout)
    if layout.type == "string":
        text = raw.rstrip(b"\x00 ")
        try:
            return text.decode("ascii")
        except UnicodeDecodeError as err:
            raise ValueError(f"string registers hold non-ASCII bytes: {text!r}") from err
    value: int | float = struct.unpack(">" + _STRUCT[layout.type], raw)[0]
    return value


def encode(value: Value, layout: Layout) -> list[int]:
    """Registers holding ``value`` as ``layout`` lays it out (the inverse of :func:`decode`).

    A ``bitfield`` is encoded as a register with only its bit set (or none): to change
    one bit of a live register, see :func:`with_bit`. A ``string`` is padded with NUL.

    Raises
    ------
    ValueError
        The value does not fit the type (out of range, a fraction for an integer, text
        too long or not ASCII).
    """
    kind = layout.type
    if kind in ("bool", "bitfield"):
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise ValueError(f"{kind} takes true/false or 0/1, got {value!r}")
        return [int(bool(value)) << (layout.bit if kind == "bitfield" else 0)]
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"string takes text, got {value!r}")
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError as err:
            raise ValueError(f"text {value[:40]!r} is not ASCII") from err
        size = 2 * layout.count
        if len(raw) > size:
            raise ValueError(
                f"text {value[:40]!r} has {len(raw)} characters; {layout.count} registers "
                f"hold {size}"
            )
        return _from_bytes(raw.ljust(size, b"\x00"), layout)
    if isinstance(value, str):
        raise ValueError(f"{kind} takes a number, got text {value[:40]!r}")
    code = _STRUCT[kind]
    number: int | float
    if code in "fd":
        number = float(value)
    else:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{kind} takes a whole number, got {value!r}")
        number = int(value)
    try:
        raw = struct.pack(">" + code, number)
    except (struct.error, OverflowError) as err:
        raise ValueError(f"{value!r} does not fit {kind}") from err
    return _from_bytes(raw, layout)


def with_bit(register: int, bit: int, on: bool) -> int:
    """``register`` with bit ``bit`` set or cleared (read-modify-write of a bitfield).

    >>> with_bit(0b1010, 0, True), with_bit(0b1010, 3, False)
    (11, 2)
    """
    return register | (1 << bit) if on else register & ~(1 << bit) & 0xFFFF


def is_finite(value: Value) -> bool:
    """False for a NaN or infinite float (a sensor fault some devices encode that way)."""
    return not isinstance(value, float) or math.isfinite(value)


def scale_value(raw: Value, scale: float, offset: float) -> float:
    """The engineering value ``raw * scale + offset`` (booleans are 0 or 1).

    >>> scale_value(215, 0.5, -10.0)
    97.5
    """
    if isinstance(raw, str):
        raise ValueError(f"text {raw[:40]!r} has no numeric value")
    return float(raw) * scale + offset


def unscale_value(value: float, scale: float, offset: float, data_type: str) -> int | float:
    """The raw value to write for the engineering value ``value`` (integers rounded).

    >>> unscale_value(11.5, 0.1, -10.0, "int16")
    215
    """
    raw = (float(value) - offset) / scale
    if data_type in ("float32", "float64"):
        return raw
    if not math.isfinite(raw):
        raise ValueError(f"{value!r} has no {data_type} raw value")
    return round(raw)
