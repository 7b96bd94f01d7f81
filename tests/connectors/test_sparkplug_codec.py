"""The Sparkplug B codec, topics and mapping: round trips and malformed input (Hypothesis)."""

from __future__ import annotations

import contextlib
import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.config import load_project
from shopfloor.connectors.sparkplug import sparkplug_b_pb2 as pb
from shopfloor.connectors.sparkplug.codec import (
    ARRAY_FORMATS,
    INTEGER_RANGES,
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
)
from shopfloor.connectors.sparkplug.config import SparkplugConfig
from shopfloor.connectors.sparkplug.mapping import (
    AssetMapping,
    check_template,
    parse_source,
    signal_name_of,
)
from shopfloor.connectors.sparkplug.topics import MessageType, parse_topic
from shopfloor.errors import ConfigError, PayloadRejected
from shopfloor.model import validate_asset_path, validate_segment

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = st.integers(0, 2**42).map(lambda ms: _EPOCH + timedelta(milliseconds=ms))
_FLOAT32 = st.floats(width=32, allow_nan=False)
_ELEMENT = {
    DataType.FLOAT: _FLOAT32,
    DataType.DOUBLE: st.floats(allow_nan=False),
    DataType.DATETIME: _MS,
}


def _values(datatype: DataType) -> st.SearchStrategy[object]:
    if datatype in INTEGER_RANGES:
        low, high = INTEGER_RANGES[datatype]
        return st.integers(low, high)
    if datatype in _ELEMENT:
        return _ELEMENT[datatype]
    if datatype == DataType.BOOLEAN:
        return st.booleans()
    if datatype in (DataType.STRING, DataType.TEXT, DataType.UUID):
        return st.text()
    if datatype in (DataType.BYTES, DataType.FILE):
        return st.binary()
    if datatype == DataType.STRING_ARRAY:
        return st.lists(st.text().filter(lambda s: "\x00" not in s), max_size=5).map(tuple)
    element = ARRAY_FORMATS[datatype][1]
    return st.lists(_values(element), max_size=6).map(tuple)


_SUPPORTED = [
    *INTEGER_RANGES,
    DataType.FLOAT,
    DataType.DOUBLE,
    DataType.BOOLEAN,
    DataType.STRING,
    DataType.TEXT,
    DataType.UUID,
    DataType.DATETIME,
    DataType.BYTES,
    DataType.FILE,
    DataType.STRING_ARRAY,
    *ARRAY_FORMATS,
]


@st.composite
def _metrics(draw: st.DrawFn) -> Metric:
    datatype = draw(st.sampled_from(_SUPPORTED))
    return Metric(
        name=draw(st.none() | st.text(max_size=20)),
        alias=draw(st.none() | st.integers(0, 2**64 - 1)),
        timestamp_ms=draw(st.none() | st.integers(0, 2**64 - 1)),
        datatype=datatype,
        value=draw(st.none() | _values(datatype)),
        is_historical=draw(st.booleans()),
        is_transient=draw(st.booleans()),
        properties=draw(
            st.dictionaries(
                st.text(max_size=8),
                st.none() | st.booleans() | st.text(max_size=8) | st.floats(allow_nan=False),
                max_size=3,
            )
        ),
    )


@given(
    st.builds(
        Payload,
        timestamp_ms=st.none() | st.integers(0, 2**64 - 1),
        seq=st.none() | st.integers(0, 255),
        metrics=st.lists(_metrics(), max_size=6).map(tuple),
        uuid=st.none() | st.text(max_size=10),
        body=st.none() | st.binary(max_size=10),
    )
)
@settings(max_examples=300, deadline=None)
def test_encode_then_decode_gives_the_payload_back(payload: Payload) -> None:
    assert decode_payload(encode_payload(payload)) == payload


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_arbitrary_bytes_decode_or_raise_a_clear_error(data: bytes) -> None:
    try:
        payload = decode_payload(data)
    except PayloadRejected as err:
        message = str(err)
    else:
        message = ""
    if message:
        assert "not a Sparkplug B payload" in message
        return
    for metric in payload.metrics:  # every metric has its value or the reason it has none
        assert metric.value is None or metric.problem is None


@given(st.lists(_metrics(), min_size=1, max_size=4), st.data())
@settings(max_examples=200, deadline=None)
def test_data_without_data_type_decodes_with_the_birth_types(
    metrics: list[Metric], data: st.DataObject
) -> None:
    types = {i: m.datatype for i, m in enumerate(metrics)}
    bare = tuple(
        Metric(alias=i, value=m.value, timestamp_ms=m.timestamp_ms) for i, m in enumerate(metrics)
    )

    def datatype_of(name: str | None, alias: int | None) -> DataType | None:
        return None if alias is None else types[alias]

    decoded = decode_payload(encode_payload(Payload(metrics=bare), datatype_of), datatype_of)
    assert [m.value for m in decoded.metrics] == [m.value for m in metrics]
    assert all(m.datatype is not None for m in decoded.metrics)


def test_the_data_types_are_those_of_the_proto() -> None:
    assert {t.name.replace("_", "").lower(): t.value for t in DataType} == {
        name.lower(): value for name, value in pb.DataType.items()
    }


def test_signed_integers_are_sign_extended_from_either_width() -> None:
    for raw in (0xFF, 0xFFFFFFFF):  # Int8 -1 sent in 8 or in 32 bits
        message = pb.Payload()
        metric = message.metrics.add()
        metric.name, metric.datatype, metric.int_value = "x", DataType.INT8, raw
        assert decode_payload(message.SerializeToString()).metrics[0].value == -1


@pytest.mark.parametrize(
    ("datatype", "field", "raw", "problem"),
    [
        (DataType.DATASET, "dataset_value", None, "DATASET is not supported"),
        (DataType.TEMPLATE, "template_value", None, "TEMPLATE is not supported"),
        (DataType.BOOLEAN_ARRAY, "bytes_value", b"\x01\x00\x00\x00\x80", "not supported"),
        (DataType.INT32, "string_value", "7", "INT32 value sent as string_value"),
        (DataType.UINT8, "int_value", 300, "300 does not fit UINT8"),
        (DataType.DOUBLE_ARRAY, "bytes_value", b"\x00" * 7, "not a multiple of 8"),
        (DataType.STRING_ARRAY, "bytes_value", b"ab", "does not end with a NUL"),
        (99, "int_value", 1, "unknown data type 99"),
    ],
)
def test_a_value_that_cannot_be_read_keeps_its_reason(
    datatype: int, field: str, raw: object, problem: str
) -> None:
    message = pb.Payload()
    metric = message.metrics.add()
    metric.name, metric.datatype = "m", datatype
    if raw is None:
        getattr(metric, field).SetInParent()
    else:
        setattr(metric, field, raw)
    ok = message.metrics.add()
    ok.name, ok.datatype, ok.double_value = "ok", DataType.DOUBLE, 2.5
    decoded = decode_payload(message.SerializeToString())
    assert decoded.metrics[0].value is None
    assert problem in (decoded.metrics[0].problem or "")
    assert decoded.metrics[1].value == 2.5


def test_arrays_are_packed_little_endian() -> None:
    metric = Metric(name="a", datatype=DataType.INT16_ARRAY, value=(1, -2))
    message = pb.Payload.FromString(encode_payload(Payload(metrics=(metric,))))
    assert message.metrics[0].bytes_value == struct.pack("<2h", 1, -2)


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.INT8, 200),
        (DataType.UINT16, -1),
        (DataType.BOOLEAN, 1),
        (DataType.FLOAT, "1.5"),
        (DataType.DATETIME, datetime(2024, 1, 1)),  # naive on purpose
        (DataType.DATASET, 1),
    ],
)
def test_encode_refuses_a_value_that_does_not_fit(datatype: DataType, value: object) -> None:
    with pytest.raises(ValueError, match="metric 'm'"):
        encode_payload(Payload(metrics=(Metric(name="m", datatype=datatype, value=value),)))


def test_float_nan_survives() -> None:
    metric = Metric(name="f", datatype=DataType.FLOAT, value=math.nan)
    value = decode_payload(encode_payload(Payload(metrics=(metric,)))).metrics[0].value
    assert isinstance(value, float) and math.isnan(value)


# -- topics -----------------------------------------------------------------------------


def test_topics_parse() -> None:
    t = parse_topic("spBv1.0/G/NBIRTH/N")
    assert (t.group, t.message_type, t.edge_node, t.device) == ("G", MessageType.NBIRTH, "N", None)
    assert str(parse_topic("spBv1.0/G/DDATA/N/D")) == "spBv1.0/G/DDATA/N/D"


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("spBv1.0/G/NDATA", "is not spBv1.0"),
        ("spAv1.0/G/NDATA/N", "is not spBv1.0"),
        ("spBv1.0/G/XDATA/N", "unknown message type 'XDATA'"),
        ("spBv1.0/G/DDATA/N", "ends with a device id"),
        ("spBv1.0/G/NDATA/N/D", "ends at the edge node id"),
        ("spBv1.0/G/DDATA/N/D/E", "has 6 levels"),
        ("spBv1.0//NDATA/N", "group id"),
    ],
)
def test_bad_topics_are_named(topic: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_topic(topic)
    assert repr(topic) in str(err.value)


@given(st.text(max_size=60))
def test_any_topic_parses_or_raises_value_error(topic: str) -> None:
    with contextlib.suppress(ValueError):
        parse_topic(topic)


# -- mapping ----------------------------------------------------------------------------


@given(st.text(max_size=100))
def test_any_metric_name_becomes_a_valid_signal_name(name: str) -> None:
    assert validate_segment(signal_name_of(name))


@given(st.text(min_size=1, max_size=30).filter(lambda s: not set(s) & set("/+#")))
def test_any_ids_map_to_a_valid_asset_path(ident: str) -> None:
    mapping = AssetMapping("acme/p1/{group}/{edge_node}/main/{device}")
    assert validate_asset_path(mapping.asset_of(ident, ident, ident))
    assert validate_asset_path(mapping.asset_of(ident, ident, None))


def test_explicit_assets_win_over_the_template() -> None:
    mapping = AssetMapping(
        "acme/p1/{group}/{edge_node}/main/{device}", {"G/N/D": "a/b/c/d/e/press"}
    )
    assert mapping.asset_of("G", "N", "D") == "a/b/c/d/e/press"
    assert mapping.asset_of("G", "N", None) == "acme/p1/G/N/main/node"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("acme/{group}/{edge_node}/{device}", "has 4 levels"),
        ("acme/p1/{group}/{edge_node}/{cell}/{device}", r"names \['cell'\]"),
    ],
)
def test_a_bad_template_is_refused(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_template(template)


def test_sources_parse_and_bad_ones_are_named() -> None:
    assert parse_source("G/N:Motor/Speed") == ("G", "N", None, "Motor/Speed")
    with pytest.raises(ValueError, match="'G:x'"):
        parse_source("G:x")
    config = SparkplugConfig(name="sp", groups=["G"])
    assert config.source_problem("H/N:x", {}) is not None
    assert config.source_problem("G/N/D:x", {}) is None


def test_config_checks_its_ids_and_paths() -> None:
    with pytest.raises(ValueError, match="host_id"):
        SparkplugConfig(name="sp", host_id="a/b")
    with pytest.raises(ValueError, match="assets key"):
        SparkplugConfig(name="sp", assets={"G": "a/b/c/d/e/f"})
    with pytest.raises(ValueError, match="has 3 levels"):
        SparkplugConfig(name="sp", assets={"G/N": "a/b/c"})


def test_a_project_names_each_bad_source_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "factory.yaml").write_text(
        "project: {name: demo}\n"
        "connectors:\n"
        "  - {name: sparkplug, type: sparkplug, groups: [Line1],\n"
        '     asset_template: "acme/plant1/{group}/{edge_node}/main/{device}"}\n'
        "assets:\n"
        "  - path: acme/plant1/pressing/line1/cell2/press-3\n"
        "    signals:\n"
        '      - {name: force, connector: sparkplug, source: "Line1/gw/press-3:Ram/Force"}\n'
        '      - {name: other, connector: sparkplug, source: "Line2/gw:x"}\n'
        '      - {name: bad, connector: sparkplug, source: "nothing"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path / "factory.yaml")
    assert [issue.split(": ", 1)[0].rsplit(":", 1)[1] for issue in info.value.issues] == [
        "9",
        "10",
    ]
    assert "group 'Line2' is not in groups ['Line1']" in info.value.issues[0]
    assert "'nothing' is not '<group>/<edge node>[/<device>]:<metric name>'" in str(info.value)
