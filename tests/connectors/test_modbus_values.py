"""Modbus decoding, addresses, register maps and block planning: pure, property-tested."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.connectors.modbus.address import parse_address
from shopfloor.connectors.modbus.blocks import plan_blocks, split
from shopfloor.connectors.modbus.config import ModbusConfig, ModbusTagOptions
from shopfloor.connectors.modbus.registermap import (
    TagSpec,
    load_register_map,
    parse_register_map,
    resolve_tag,
)
from shopfloor.connectors.modbus.values import (
    Layout,
    decode,
    encode,
    register_count,
    scale_value,
    unscale_value,
    with_bit,
)
from shopfloor.errors import ConfigError

ORDERS = ("big", "little")
INTEGERS = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


def float32s() -> st.SearchStrategy[float]:
    return st.floats(width=32, allow_nan=False)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[Layout, object]:
    """A layout of any type and both orders, with a value it can hold."""
    kind = draw(st.sampled_from([*INTEGERS, "float32", "float64", "bool", "bitfield", "string"]))
    byte_order = draw(st.sampled_from(ORDERS))
    word_order = draw(st.sampled_from(ORDERS))
    count = draw(st.integers(1, 10)) if kind == "string" else 1
    bit = draw(st.integers(0, 15)) if kind == "bitfield" else 0
    layout = Layout(kind, byte_order, word_order, count, bit)  # type: ignore[arg-type]
    value: object
    if kind in INTEGERS:
        low, high = INTEGERS[kind]
        value = draw(st.integers(low, high))
    elif kind == "float32":
        value = draw(float32s())
    elif kind == "float64":
        value = draw(st.floats(allow_nan=False))
    elif kind in ("bool", "bitfield"):
        value = draw(st.booleans())
    else:
        alphabet = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
        inner = st.text(alphabet=st.sampled_from(" ABCxyz019#") | alphabet, max_size=2 * count)
        value = draw(inner).rstrip(" ")
    return layout, value


@settings(max_examples=400, deadline=None)
@given(layouts())
def test_every_type_and_order_round_trips(case: tuple[Layout, object]) -> None:
    layout, value = case
    registers = encode(value, layout)  # type: ignore[arg-type]
    assert len(registers) == layout.registers
    assert all(0 <= r <= 0xFFFF for r in registers)
    assert decode(registers, layout) == value


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]),
    st.sampled_from(ORDERS),
    st.sampled_from(ORDERS),
    st.data(),
)
def test_any_registers_decode_to_a_value(
    kind: str, byte_order: str, word_order: str, data: st.DataObject
) -> None:
    layout = Layout(kind, byte_order, word_order)  # type: ignore[arg-type]
    registers = data.draw(
        st.lists(st.integers(0, 0xFFFF), min_size=layout.registers, max_size=layout.registers)
    )
    value = decode(registers, layout)
    assert isinstance(value, int | float)
    if isinstance(value, float) and math.isnan(value):
        return  # NaN payloads need not keep their bits
    assert encode(value, layout) == registers


def test_the_four_float32_layouts() -> None:
    """10.0 is 0x41200000: ABCD, CDAB (word swap), BADC (byte swap), DCBA."""
    expected = {
        ("big", "big"): [0x4120, 0x0000],
        ("big", "little"): [0x0000, 0x4120],
        ("little", "big"): [0x2041, 0x0000],
        ("little", "little"): [0x0000, 0x2041],
    }
    for (byte_order, word_order), registers in expected.items():
        layout = Layout("float32", byte_order, word_order)  # type: ignore[arg-type]
        assert encode(10.0, layout) == registers
        assert decode(registers, layout) == 10.0


def test_int32_and_string_layouts() -> None:
    assert encode(0x01020304, Layout("int32")) == [0x0102, 0x0304]
    assert encode(0x01020304, Layout("int32", "little", "little")) == [0x0403, 0x0201]
    assert decode([0x4142, 0x4300], Layout("string", count=2)) == "ABC"
    assert decode([0x4241, 0x0043], Layout("string", "little", count=2)) == "ABC"
    assert decode([0x4120, 0x2020], Layout("string", count=2)) == "A"


def test_nan_and_infinity_decode_as_floats() -> None:
    nan = struct.unpack(">HH", struct.pack(">f", math.nan))
    assert math.isnan(float(decode(list(nan), Layout("float32"))))
    inf = struct.unpack(">HH", struct.pack(">f", math.inf))
    assert decode(list(inf), Layout("float32")) == math.inf


@pytest.mark.parametrize(
    ("value", "layout", "match"),
    [
        (70000, Layout("uint16"), "does not fit uint16"),
        (-1, Layout("uint32"), "does not fit uint32"),
        (1.5, Layout("int16"), "whole number"),
        ("ABCDE", Layout("string", count=2), "4"),
        ("é", Layout("string", count=2), "not ASCII"),
        (2, Layout("bool"), "true/false"),
        ("12", Layout("float32"), "takes a number"),
    ],
)
def test_values_that_do_not_fit_are_refused(value: object, layout: Layout, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode(value, layout)  # type: ignore[arg-type]


def test_wrong_register_counts_and_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="float32 needs 2 registers, got 1"):
        decode([1], Layout("float32"))
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        decode([70000], Layout("uint16"))
    with pytest.raises(ValueError, match="non-ASCII"):
        decode([0xC3A9], Layout("string", count=1))
    with pytest.raises(ValueError, match="not one of"):
        register_count("float16")


@given(st.integers(0, 0xFFFF), st.integers(0, 15), st.booleans())
def test_with_bit_changes_only_that_bit(register: int, bit: int, on: bool) -> None:
    changed = with_bit(register, bit, on)
    assert decode([changed], Layout("bitfield", bit=bit)) is on
    assert changed & ~(1 << bit) == register & ~(1 << bit)


@given(
    st.integers(-30000, 30000),
    st.floats(0.001, 1000).filter(lambda s: s != 0),
    st.floats(-1000, 1000),
)
def test_scaling_turns_back_into_the_raw_integer(raw: int, scale: float, offset: float) -> None:
    assert unscale_value(scale_value(raw, scale, offset), scale, offset, "int16") == raw


# -- addresses -------------------------------------------------------------------------------


def test_addresses_parse_with_aliases_bits_and_units() -> None:
    address = parse_address(" hr : 100.3 @ 2 ")
    assert (address.table, address.address, address.bit, address.unit) == ("holding", 100, 3, 2)
    assert str(parse_address("DI:7")) == "discrete:7"
    assert parse_address("coils:0").is_bit


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("40001", "must look like"),
        ("register:1", "not one of"),
        ("holding:70000", "past 65535"),
        ("coil:1.2", "no bits"),
        ("holding:1.16", "0..15"),
        ("input:1@300", "past 255"),
    ],
)
def test_bad_addresses_are_refused_with_the_text(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        parse_address(text)
    assert repr(text) in str(info.value)


# -- tags and register maps ------------------------------------------------------------------


def config(**extra: object) -> ModbusConfig:
    return ModbusConfig(
        name="plc",
        host="127.0.0.1",
        unit_id=4,
        groups={"fast": {"interval_ms": 100, "unit_id": 9}},
        **extra,
    )


def test_tags_take_their_type_and_unit_from_table_bit_group_and_connector() -> None:
    plc = config()
    coil = resolve_tag(parse_address("coil:3"), ModbusTagOptions(), plc)
    assert (coil.layout.type, coil.unit) == ("bool", 4)
    bit = resolve_tag(parse_address("holding:5.2"), ModbusTagOptions(group="fast"), plc)
    assert (bit.layout.type, bit.layout.bit, bit.unit) == ("bitfield", 2, 9)
    own = resolve_tag(parse_address("input:1@7"), ModbusTagOptions(type="float32"), plc)
    assert (own.unit, own.size, own.label) == (7, 2, "input:1@7")
    assert plc.interval_s("fast") == 0.1 and plc.interval_s("default") == 1.0


@pytest.mark.parametrize(
    ("address", "options", "match"),
    [
        ("coil:1", {"type": "int16"}, "single bit"),
        ("holding:1.2", {"type": "float32"}, "bitfield, not float32"),
        ("holding:1", {"type": "bitfield"}, "names its bit"),
        ("holding:1", {"group": "slow"}, "'slow' is not defined"),
        ("holding:65535", {"type": "float64"}, "past 65535"),
    ],
)
def test_tags_that_cannot_be_read_are_refused(
    address: str, options: dict[str, str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_tag(parse_address(address), ModbusTagOptions(**options), config())


def test_tag_options_are_checked() -> None:
    with pytest.raises(ValueError, match="needs count"):
        ModbusTagOptions(type="string")
    with pytest.raises(ValueError, match="strings only"):
        ModbusTagOptions(type="int16", count=2)
    with pytest.raises(ValueError, match="scale must not be 0"):
        ModbusTagOptions(scale=0)


MAP = """\
# a register map
name,address,type,count,byte_order,word_order,scale,offset,group
oil_temp,input:10,float32,,big,little,,,fast
speed,holding:0,uint16,,,,0.1,,

serial,holding:200,string,8,,,,,
door_open,holding:5.3,,,,,,,
running,coil:0@2,,,,,,,
"""


def test_a_register_map_csv_reads_every_row() -> None:
    tags = parse_register_map(MAP, "map.csv")
    assert [t.name for t in tags] == ["oil_temp", "speed", "serial", "door_open", "running"]
    assert tags[0].word_order == "little" and tags[0].group == "fast"
    assert tags[1].scale == 0.1 and tags[2].count == 8
    assert tags[4].address == "coil:0@2"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name,address\nx,holding:1\ny,hold:2\n", "map.csv:3:2: column 'address'"),
        ("name,address,type\nx,holding:1,flaot32\n", "map.csv:2:3: column 'type'"),
        ("name,type,address,scale\nx,int16,holding:1,fast\n", "map.csv:2:4: column 'scale'"),
        ("name,address,colour\n", "map.csv:1:3: unknown column 'colour'"),
        ("address\nholding:1\n", "map.csv:1:1: the header has no 'name'"),
        ("name,address\nx,holding:1\nx,holding:2\n", "map.csv:3:1: tag 'x' is already"),
        ("name,address\nx,holding:1,3\n", "map.csv:2:3: 3 cells"),
        ("name,address,type\nx,holding:1,string\n", "map.csv:2:1: a string needs count"),
    ],
)
def test_a_bad_row_names_file_line_and_column(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_register_map(text, "map.csv")
    assert str(info.value).startswith(where), str(info.value)


def test_a_bad_row_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "press.csv"
    path.write_text("name,address,type\nspeed,holding:0,uint16\ntemp,input:1,float31\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:3:3: column 'type'") + ".*'float31'"):
        load_register_map(path)
    with pytest.raises(ConfigError, match=r"missing\.csv"):
        load_register_map(tmp_path / "missing.csv")


# -- block planning --------------------------------------------------------------------------


def spec(text: str, kind: str = "uint16", count: int = 1) -> tuple[TagSpec, str]:
    address = parse_address(text)
    return TagSpec(address, address.unit or 1, Layout(kind, count=count)), text  # type: ignore[arg-type]


def test_adjacent_and_nearly_adjacent_tags_share_a_request() -> None:
    blocks = plan_blocks(
        [
            spec("holding:8", "float32"),
            spec("holding:0"),
            spec("holding:18"),  # 8 unused registers from 10: merged
            spec("holding:28"),  # 9 unused: a new request
            spec("holding:0@2"),  # another unit
            spec("coil:0"),
            spec("coil:64"),
            spec("coil:130"),  # 65 unused bits: a new request
        ],
        max_gap_registers=8,
    )
    assert [b.label for b in blocks] == [
        "coil:0..64@1",
        "coil:130..130@1",
        "holding:0..18@1",
        "holding:28..28@1",
        "holding:0..0@2",
    ]
    assert [item for _, item in blocks[2].items] == ["holding:0", "holding:8", "holding:18"]
    assert blocks[2].slice(list(range(19)), blocks[2].items[1][0]) == [8, 9]
    assert [b.label for b in split(blocks[2])] == [
        "holding:0..0@1",
        "holding:8..9@1",
        "holding:18..18@1",
    ]


@given(
    st.lists(st.tuples(st.integers(0, 3000), st.sampled_from([1, 2, 4])), min_size=1, max_size=200),
    st.integers(0, 20),
    st.integers(4, 125),
)
def test_blocks_cover_every_tag_within_the_limits(
    tags: list[tuple[int, int]], gap: int, limit: int
) -> None:
    kinds = {1: "uint16", 2: "float32", 4: "float64"}
    specs = [spec(f"holding:{a}", kinds[n]) for a, n in tags]
    blocks = plan_blocks(specs, max_gap_registers=gap, max_registers=limit)
    assert sum(len(b.items) for b in blocks) == len(specs)
    for block in blocks:
        assert block.count <= max(limit, *(s.size for s, _ in block.items))
        for member, _ in block.items:
            assert block.start <= member.start
            assert member.start + member.size <= block.start + block.count


def test_validate_names_the_line_of_a_source_the_connector_cannot_read(tmp_path: Path) -> None:
    from shopfloor.config import load_project

    asset = "acme/plant1/packaging/line1/cell1/press-01"
    (tmp_path / "factory.yaml").write_text(
        f"""project: {{name: modbus-check}}
assets:
  - path: {asset}
    signals:
      - {{name: ok, connector: plc, source: "holding:0", source_options: {{type: float32}}}}
      - {{name: named, connector: plc, source: speed}}
      - {{name: bad_table, connector: plc, source: "register:1"}}
      - {{name: bad_type, connector: plc, source: "coil:1", source_options: {{type: int16}}}}
      - {{name: nowhere, connector: plc, source: no_such_tag}}
connectors:
  - name: plc
    type: modbus
    host: 127.0.0.1
    tags:
      - {{name: speed, address: "holding:5", scale: 0.1}}
"""
    )
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    text = str(info.value)
    assert "factory.yaml:7: assets[0].signals[2].source: address 'register:1'" in text
    assert "factory.yaml:8: assets[0].signals[3].source: coil:1 is a single bit" in text
    assert "factory.yaml:9: assets[0].signals[4].source: 'no_such_tag' is neither" in text
    assert "signals[0]" not in text and "signals[1]" not in text
