"""Values written back to a source: one conversion for every writable connector.

A value from the project file (``true``, ``300``, ``"2.5"``, ``"{message}"`` once filled
in) is converted to the data type the *target* holds (an OPC UA node's ``DataType``; a
Modbus coil or register later) by :func:`convert_value`, which either returns a Python
value that fits exactly or raises :class:`~shopfloor.errors.WriteRefused` naming the
target, the value and the type: nothing is rounded, truncated or wrapped silently.
:func:`same_value` compares what was written with what is read back. Both are pure and
property-tested.

The types are OPC UA's built-in scalar types by name, which cover what machines expose
for alarms and set points::

    Boolean  SByte  Byte  Int16  UInt16  Int32  UInt32  Int64  UInt64  Float  Double  String

Examples
--------
>>> convert_value(1, "Boolean"), convert_value("255", "Byte"), convert_value(2, "Double")
(True, 255, 2.0)
>>> convert_value(300, "Byte", what="node ns=2;s=Code")
Traceback (most recent call last):
...
shopfloor.errors.WriteRefused: node ns=2;s=Code: 300 does not fit a Byte (0..255)
"""

from __future__ import annotations

import math
import struct
from numbers import Integral, Real
from typing import Final, Literal, get_args

from shopfloor.errors import WriteRefused

__all__ = [
    "INTEGER_RANGES",
    "SCALAR_TYPES",
    "ScalarType",
    "WriteValue",
    "convert_value",
    "same_value",
]

WriteValue = bool | int | float | str
"""A value as the project file gives it, and as it is written and read back."""

INTEGER_RANGES: Final[dict[str, tuple[int, int]]] = {
    "SByte": (-(2**7), 2**7 - 1),
    "Byte": (0, 2**8 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "UInt16": (0, 2**16 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "UInt32": (0, 2**32 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt64": (0, 2**64 - 1),
}
"""Inclusive range of each integer type."""

ScalarType = Literal[
    "Boolean",
    "SByte",
    "Byte",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Int64",
    "UInt64",
    "Float",
    "Double",
    "String",
]
"""The data types a value can be written as (OPC UA's built-in scalar types by name)."""

SCALAR_TYPES: Final[tuple[str, ...]] = get_args(ScalarType)
"""The names of :data:`ScalarType`."""

_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}
_FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite single-precision float."""


def _single(number: float) -> float:
    """``number`` rounded to single precision (struct: no numpy needed to load a project)."""
    return float(struct.unpack("<f", struct.pack("<f", number))[0])


def _fail(what: str, value: WriteValue, type_name: str, why: str = "") -> WriteRefused:
    shown = repr(value) if isinstance(value, str) else str(value)
    return WriteRefused(f"{what}: {shown} does not fit a {type_name}{why}")


def _number(value: WriteValue, what: str, type_name: str) -> float | int:
    """``value`` as a number: a bool is 0 or 1, text is parsed (an int stays an int)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _fail(what, value, type_name, " (not a number)") from None


def convert_value(value: WriteValue, type_name: str, *, what: str = "value") -> WriteValue:
    """``value`` as the Python value of data type ``type_name``, or a clear refusal.

    Parameters
    ----------
    value
        As configured: a bool, an int, a float or text.
    type_name
        One of :data:`SCALAR_TYPES`.
    what
        Names the target in the error (``node ns=2;s=Alarm on opc.tcp://...``).

    Returns
    -------
    bool, int, float or str
        ``Boolean``: a bool (from a bool, 0 or 1, or ``true``/``false``/``on``/``off``/
        ``yes``/``no``/``1``/``0``); an integer type: an int within the type's range (from
        an integral number or text); ``Float``: a float that a 32-bit float holds
        exactly (the value rounded to single precision, never beyond its range);
        ``Double``: a float; ``String``: the text (a number or bool as written).

    Raises
    ------
    WriteRefused
        When the value does not fit: 2.5 to a Boolean or an integer, 300 to a Byte, text
        that is no number to a number, an unknown type.
    """
    if type_name == "String":
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else repr(value)
    if type_name == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise _fail(what, value, type_name, " (use true or false)")
        if value in (0, 1):
            return bool(value)
        raise _fail(what, value, type_name, " (use true, false, 0 or 1)")
    if type_name in INTEGER_RANGES:
        low, high = INTEGER_RANGES[type_name]
        number = _number(value, what, type_name)
        if isinstance(number, float):
            if not math.isfinite(number) or not number.is_integer():
                raise _fail(what, value, type_name, " (not a whole number)")
            number = int(number)
        if not low <= number <= high:
            raise _fail(what, value, type_name, f" ({low}..{high})")
        return number
    if type_name in ("Float", "Double"):
        try:
            number = float(_number(value, what, type_name))
        except OverflowError:
            raise _fail(what, value, type_name, " (too large)") from None
        if type_name == "Double":
            return number
        if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
            raise _fail(what, value, type_name, f" (beyond ±{_FLOAT32_MAX:.6g})")
        return _single(number)
    raise WriteRefused(
        f"{what}: cannot write a {type_name} (write-back writes {', '.join(SCALAR_TYPES)})"
    )


def same_value(written: WriteValue, read: object, type_name: str) -> bool:
    """Whether ``read`` (read back from the target) is the value ``written`` as ``type_name``.

    Numbers compare by value (a ``Float`` at single precision, NaN equal to NaN); a
    Boolean only equals a bool; text compares exactly.

    Examples
    --------
    >>> same_value(0.1, 0.10000000149011612, "Float"), same_value(True, 1, "Boolean")
    (True, False)
    """
    if type_name == "Boolean" or isinstance(written, bool):
        return isinstance(read, bool) and read is written
    if isinstance(written, str):
        return isinstance(read, str) and read == written
    if isinstance(read, bool) or not isinstance(read, Real):
        return False
    if isinstance(written, int) and isinstance(read, Integral):
        return written == int(read)
    a, b = float(written), float(read)
    if type_name == "Float" and math.isfinite(a) and abs(a) <= _FLOAT32_MAX:
        a = _single(a)
        b = _single(b) if math.isfinite(b) and abs(b) <= _FLOAT32_MAX else b
    return a == b or (math.isnan(a) and math.isnan(b))
