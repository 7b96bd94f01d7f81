"""Property tests of what the MQTT connector decodes: JSON paths, waveform blocks, topics."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shopfloor.connectors.mqtt.config import MqttSignalOptions
from shopfloor.connectors.mqtt.jsonpath import JsonPath, PathNotFound, format_steps
from shopfloor.connectors.mqtt.payloads import MessageReader
from shopfloor.connectors.mqtt.topics import TopicPattern
from shopfloor.connectors.mqtt.waveform import (
    DTYPE_CODES,
    HEADER,
    WaveformDecodeError,
    decode_waveform,
    encode_waveform,
)
from shopfloor.errors import PayloadRejected
from shopfloor.model import Quality

keys = st.text(min_size=1, max_size=12)
steps = st.lists(st.one_of(keys, st.integers(-5, 5)), max_size=6)
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())


def nest(path: list[str | int], leaf: Any) -> Any:
    """A document holding ``leaf`` at ``path`` (lists padded with other values)."""
    document = leaf
    for step in reversed(path):
        if isinstance(step, int):
            size = step + 1 if step >= 0 else -step
            items: list[Any] = ["other"] * size
            items[step] = document
            document = items
        else:
            document = {step: document, "other": 0} if step != "other" else {step: document}
    return document


# -- JSON paths ----------------------------------------------------------------------------


@given(steps)
def test_a_written_path_parses_back_to_its_steps(path: list[str | int]) -> None:
    text = format_steps(tuple(path))
    assert JsonPath.parse(text).steps == tuple(path)
    assert JsonPath.parse(text).text == text


@given(steps, leaves)
def test_a_path_finds_what_sits_there(path: list[str | int], leaf: Any) -> None:
    document = json.loads(json.dumps(nest(path, leaf)))
    assert JsonPath(tuple(path)).get(document) == leaf


@given(steps.filter(bool), leaves)
def test_a_path_into_something_else_is_not_found(path: list[str | int], leaf: Any) -> None:
    with pytest.raises(PathNotFound, match=r"^\S"):
        JsonPath(tuple(path)).get(leaf)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_with_a_value_error(text: str) -> None:
    try:
        JsonPath.parse(text)
    except ValueError as err:
        message = str(err)
    else:
        return
    assert message.startswith("path ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$", ()),
        ("$.data.v", ("data", "v")),
        ("data.values[0].v", ("data", "values", 0, "v")),
        ("readings[-1]", ("readings", -1)),
        ("""["temp.C"]""", ("temp.C",)),
        ("['1st'].x", ("1st", "x")),
        ("$[2]", (2,)),
    ],
)
def test_path_examples(text: str, expected: tuple[str | int, ...]) -> None:
    assert JsonPath.parse(text).steps == expected


@pytest.mark.parametrize("text", ["a..b", "a[", "a[x]", ".a", "a b", "a]"])
def test_bad_paths_name_the_position(text: str) -> None:
    with pytest.raises(ValueError, match=r"path .* at \d+"):
        JsonPath.parse(text)


# -- JSON messages -------------------------------------------------------------------------


@given(st.binary(max_size=64))
def test_any_payload_is_read_or_rejected_with_a_reason(payload: bytes) -> None:
    reader = MessageReader(MqttSignalOptions(value="v", timestamp="t", quality="q"))
    try:
        reading = reader.scalar(payload, "plant/a", 1)
    except PayloadRejected as err:
        refused: PayloadRejected | None = err
    else:
        assert isinstance(reading.value, float)
        return
    assert refused is not None and str(refused).startswith("plant/a: ")
    assert refused.category in {
        "malformed_json",
        "missing_path",
        "wrong_type",
        "bad_timestamp",
        "bad_quality",
    }


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 2**62))
def test_a_reading_keeps_its_value_and_time(value: float, ts_ns: int) -> None:
    reader = MessageReader(
        MqttSignalOptions(value="d.v", timestamp="d.t", timestamp_format="epoch_ns", quality="q")
    )
    payload = json.dumps({"d": {"v": value, "t": ts_ns}, "q": 0x40000000}).encode()
    reading = reader.scalar(payload, "t", 0)
    assert (reading.value, reading.ts_ns) == (value, ts_ns)
    assert (reading.quality, reading.status_code) == (Quality.UNCERTAIN, 0x40000000)


@pytest.mark.parametrize(
    ("payload", "category", "words"),
    [
        (b"{not json", "malformed_json", "malformed JSON"),
        (b'{"x": 1}', "missing_path", "no value at v: no key 'v'"),
        (b'{"v": "21.5"}', "wrong_type", "text '21.5', not a number"),
        (b'{"v": [1, 2]}', "wrong_type", "a list of 2"),
        (b'{"v": null}', "wrong_type", "null"),
        (b'{"v": 1, "t": 5}', "bad_timestamp", "not ISO 8601 text"),
        (b'{"v": 1, "t": "yesterday"}', "bad_timestamp", "'yesterday', not ISO 8601"),
        (b'{"v": 1, "q": "meh"}', "bad_quality", "'meh'"),
    ],
)
def test_each_refusal_names_its_reason(payload: bytes, category: str, words: str) -> None:
    options = MqttSignalOptions(value="v", timestamp="t" if b'"t"' in payload else None)
    if b'"q"' in payload:
        options = MqttSignalOptions(value="v", quality="q")
    with pytest.raises(PayloadRejected, match=words) as caught:
        MessageReader(options).scalar(payload, "plant/a", 0)
    assert caught.value.category == category
    assert str(caught.value).startswith("plant/a: ")


def test_iso_times_keep_nanoseconds_and_zones() -> None:
    reader = MessageReader(MqttSignalOptions(value="v", timestamp="t"))
    reading = reader.scalar(b'{"t": "2026-01-31T09:00:00.123456789+01:00", "v": 2}', "x", 0)
    expected = int(np.datetime64("2026-01-31T08:00:00.123456789", "ns").astype(np.int64))
    assert reading.ts_ns == expected


def test_null_is_nan_when_the_quality_is_bad() -> None:
    reader = MessageReader(MqttSignalOptions(value="v", quality="ok"))
    reading = reader.scalar(b'{"v": null, "ok": false}', "x", 0)
    assert math.isnan(reading.value) and reading.quality == Quality.BAD


# -- waveform blocks -----------------------------------------------------------------------

blocks = st.sampled_from([d.name for d in DTYPE_CODES.values()]).flatmap(
    lambda dtype: st.tuples(
        st.just(dtype),
        hnp.arrays(
            dtype,
            st.tuples(st.integers(1, 50), st.integers(1, 4)),
            elements=hnp.from_dtype(np.dtype(dtype), allow_nan=False, allow_infinity=False),
        ),
    )
)


@given(
    blocks,
    st.floats(1e-3, 1e7, allow_nan=False),
    st.integers(-(2**62), 2**62),
    st.sampled_from([1.0, 0.5, 1e-3]),
)
def test_a_block_decodes_to_what_was_encoded(
    block: tuple[str, np.ndarray[Any, Any]], rate: float, t0_ns: int, scale: float
) -> None:
    dtype, raw = block
    data = encode_waveform(raw, sample_rate_hz=rate, t0_ns=t0_ns, dtype=dtype, scale=scale)
    assert len(data) == HEADER.size + raw.size * raw.dtype.itemsize
    decoded = decode_waveform(data)
    assert (decoded.sample_rate_hz, decoded.t0_ns) == (rate, t0_ns)
    expected = raw.astype(np.float64) * scale if scale != 1.0 else raw.astype(np.float64)
    shaped = expected[:, 0] if raw.shape[1] == 1 else expected
    np.testing.assert_array_equal(decoded.data, shaped)


@given(blocks, st.data())
def test_a_cut_block_is_truncated_never_misread(
    block: tuple[str, np.ndarray[Any, Any]], data: st.DataObject
) -> None:
    dtype, raw = block
    whole = encode_waveform(raw, sample_rate_hz=100.0, t0_ns=0, dtype=dtype)
    cut = data.draw(st.integers(0, len(whole) - 1))
    with pytest.raises(WaveformDecodeError, match="truncated") as caught:
        decode_waveform(whole[:cut])
    assert caught.value.category == "truncated_waveform"


@given(st.binary(max_size=120))
def test_any_bytes_decode_or_are_refused(payload: bytes) -> None:
    try:
        decoded = decode_waveform(payload)
    except WaveformDecodeError as err:
        category = err.category
    else:
        assert decoded.data.size >= 1
        return
    assert category in ("bad_waveform", "truncated_waveform")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda b: b"XXXX" + b[4:], "not a waveform block"),
        (lambda b: b[:4] + b"\x02\x00" + b[6:], "version 2"),
        (lambda b: b[:30] + b"\x09" + b[31:], "dtype code 9"),
        (lambda b: b + b"\x00", "trailing bytes"),
    ],
)
def test_a_wrong_block_says_what_is_wrong(change: Any, words: str) -> None:
    good = encode_waveform(np.zeros(4), sample_rate_hz=10.0, t0_ns=0)
    with pytest.raises(WaveformDecodeError, match=words):
        decode_waveform(change(good))


# -- topic patterns ------------------------------------------------------------------------

levels = st.text(st.characters(blacklist_characters="/+#\0"), min_size=1, max_size=8)


@given(st.lists(st.tuples(st.booleans(), levels), min_size=1, max_size=6), st.data())
def test_a_pattern_captures_the_levels_of_a_topic(
    parts: list[tuple[bool, str]], data: st.DataObject
) -> None:
    pattern_levels = [f"+c{i}" if wild else text for i, (wild, text) in enumerate(parts)]
    pattern = TopicPattern.parse("/".join(pattern_levels))
    topic_levels = [data.draw(levels) if wild else text for wild, text in parts]
    captures = pattern.match("/".join(topic_levels))
    assert captures == {
        f"c{i}": level
        for i, ((wild, _), level) in enumerate(zip(parts, topic_levels, strict=True))
        if wild
    }
    assert pattern.match("/".join([*topic_levels, "extra"])) is None


def test_hash_captures_the_rest_and_the_parent() -> None:
    pattern = TopicPattern.parse("a/#rest")
    assert pattern.match("a/b/c") == {"rest": "b/c"}
    assert pattern.match("a") == {"rest": ""}
    assert pattern.match("b/c") is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a/#/b", "must be the last level"),
        ("a/b+/c", "mixes a wildcard"),
        ("a/+x/+x", "captured twice"),
        ("a/+1x", "letters, digits"),
        ("", "empty"),
    ],
)
def test_bad_patterns_are_refused(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        TopicPattern.parse(text)
