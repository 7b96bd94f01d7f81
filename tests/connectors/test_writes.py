"""Converting a configured value to a target's data type: it fits exactly or is refused."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopfloor.connectors.writes import (
    INTEGER_RANGES,
    SCALAR_TYPES,
    convert_value,
    same_value,
)
from shopfloor.errors import WriteRefused

values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False).map(repr),
)


def test_every_integer_type_is_a_scalar_type() -> None:
    assert set(INTEGER_RANGES) < set(SCALAR_TYPES)


@given(values, st.sampled_from(SCALAR_TYPES))
def test_any_value_fits_or_is_refused_with_the_target_named(value: object, type_name: str) -> None:
    refusal: WriteRefused | None = None
    try:
        out = convert_value(value, type_name, what="node ns=2;s=X")  # type: ignore[arg-type]
    except WriteRefused as err:
        refusal = err
    if refusal is not None:
        assert str(refusal).startswith("node ns=2;s=X: ") and type_name in str(refusal)
        assert isinstance(refusal, ValueError)
        return
    if type_name == "Boolean":
        assert isinstance(out, bool)
    elif type_name in INTEGER_RANGES:
        low, high = INTEGER_RANGES[type_name]
        assert type(out) is int and low <= out <= high
    elif type_name == "String":
        assert isinstance(out, str)
    else:
        assert isinstance(out, float)
    # what was converted is what a faithful target reads back
    assert same_value(out, out, type_name)


@given(st.sampled_from(list(INTEGER_RANGES)), st.data())
def test_integers_in_range_are_kept_and_one_beyond_is_refused(
    type_name: str, data: st.DataObject
) -> None:
    low, high = INTEGER_RANGES[type_name]
    n = data.draw(st.integers(min_value=low, max_value=high))
    assert convert_value(n, type_name) == n
    assert convert_value(str(n), type_name) == n
    if abs(n) < 2**53:  # a float holds it exactly
        assert convert_value(float(n), type_name) == n
    for outside in (low - 1, high + 1):
        with pytest.raises(WriteRefused, match=rf"does not fit a {type_name} \({low}\.\.{high}\)"):
            convert_value(outside, type_name)


@given(
    st.sampled_from(["Boolean", *INTEGER_RANGES]),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
)
def test_a_fraction_never_becomes_a_whole_number(type_name: str, value: float) -> None:
    with pytest.raises(WriteRefused, match="does not fit"):
        convert_value(value, type_name)


@given(st.floats(width=32, allow_nan=False))
def test_a_single_precision_float_is_kept_exactly(value: float) -> None:
    assert convert_value(value, "Float") == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_double_rounds_to_the_nearest_single(value: float) -> None:
    if abs(value) > 3.4028234663852886e38:
        with pytest.raises(WriteRefused, match="does not fit a Float"):
            convert_value(value, "Float")
        return
    out = convert_value(value, "Float")
    assert out == struct.unpack("<f", struct.pack("<f", value))[0]
    assert same_value(value, out, "Float")


@pytest.mark.parametrize(
    ("value", "type_name", "message"),
    [
        (2.5, "Boolean", "2.5 does not fit a Boolean"),
        (300, "Byte", r"300 does not fit a Byte \(0..255\)"),
        (-1, "UInt16", r"-1 does not fit a UInt16"),
        ("hot", "Double", "'hot' does not fit a Double .not a number."),
        ("maybe", "Boolean", "use true or false"),
        (1.5, "Int32", "not a whole number"),
        (True, "DateTime", "cannot write a DateTime"),
    ],
)
def test_refusals_name_value_and_type(value: object, type_name: str, message: str) -> None:
    with pytest.raises(WriteRefused, match=message):
        convert_value(value, type_name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        (1, "Boolean", True),
        ("Off", "Boolean", False),
        (True, "Int16", 1),
        ("255", "Byte", 255),
        (" 7.0 ", "SByte", 7),
        (3, "Double", 3.0),
        (True, "String", "true"),
        (2.5, "String", "2.5"),
        ("nan", "Double", math.nan),
    ],
)
def test_conversions(value: object, type_name: str, expected: object) -> None:
    out = convert_value(value, type_name)  # type: ignore[arg-type]
    assert same_value(out, expected, type_name)  # type: ignore[arg-type]


def test_read_back_comparison_is_strict_about_kind() -> None:
    assert same_value(True, True, "Boolean") and not same_value(True, 1, "Boolean")
    assert not same_value("1", 1, "String") and not same_value(1, "1", "Int16")
    assert same_value(3, 3.0, "Double") and not same_value(3, 4, "Int32")
    assert not same_value(1.0, None, "Double")
