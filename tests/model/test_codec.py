from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.model import (
    EventRecord,
    ImageRecord,
    Provenance,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
)
from shopfloor.model.codec import (
    decode_dead_letters,
    decode_records,
    encode_dead_letters,
    encode_records,
)
from shopfloor.model.records import DeadLetter

REF = SignalRef("acme/plant1/machining/line1/cell1/cnc-01", "speed")

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(
    st.lists(st.tuples(st.integers(-(2**62), 2**62), floats), max_size=50),
    st.text(max_size=20),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_scalar_batches_roundtrip(
    rows: list[tuple[int, float]], address: str, backfilled: bool
) -> None:
    ts = [r[0] for r in rows]
    values = [r[1] for r in rows]
    batch = ScalarBatch.of(REF, ts, values, Provenance("c", address, backfilled), quality=1)
    other = ScalarBatch.of(SignalRef(REF.asset, "other"), [5], [1.0], Provenance("d"))
    (payload,) = encode_records([batch, other])
    decoded = decode_records(payload)
    got = [b for b in decoded if isinstance(b, ScalarBatch)]
    if rows:
        assert got[0].signal == REF and got[0].provenance == batch.provenance
        np.testing.assert_array_equal(got[0].ts_ns, batch.ts_ns)
        np.testing.assert_array_equal(got[0].values, batch.values)
        assert got[0].quality.tolist() == [1] * len(rows)
    assert got[-1].signal.name == "other"


def test_other_records_roundtrip() -> None:
    block = WaveformBlock(
        REF,
        7,
        25600.0,
        np.arange(12, dtype=np.float32).reshape(4, 3),
        "g",
        Provenance("sim", "ns=2;s=X", True),
    )
    image = ImageRecord(REF, 8, b"\x00\x01", "png", (1, 2, 1), Provenance("cam"))
    event = EventRecord(REF, 9, "program_change", Provenance("p"), "m", "warning", {"a": [1, 2]})
    parts = encode_records([block, image, event])
    assert len(parts) == 3
    (b,) = decode_records(parts[0])
    assert isinstance(b, WaveformBlock) and b.data.dtype == np.float32
    np.testing.assert_array_equal(b.data, block.data)
    assert b.provenance.backfilled
    (i,) = decode_records(parts[1])
    assert isinstance(i, ImageRecord) and i.data == b"\x00\x01" and i.shape == (1, 2, 1)
    (e,) = decode_records(parts[2])
    assert isinstance(e, EventRecord) and e.attributes == {"a": [1, 2]} and e.severity == "warning"


@given(st.binary(max_size=200))
@settings(max_examples=100, deadline=None)
def test_garbage_is_a_value_error_never_a_crash(payload: bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_records(payload)


def test_dead_letters_roundtrip_bytes_exactly() -> None:
    letters = [
        DeadLetter("ingest", "f.csv:3", "bad", bytes(range(256)), 5, {"line": 3}),
        DeadLetter("ingest", "f.csv:4", "bad", "text ü", 6),
    ]
    back = decode_dead_letters(encode_dead_letters(letters))
    assert back == letters


def test_unknown_kind_is_refused() -> None:
    import pyarrow as pa

    table = pa.table({"x": [1]}).replace_schema_metadata({b"shopfloor.kind": b"weird"})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    with pytest.raises(ValueError, match="unknown record kind"):
        decode_records(sink.getvalue().to_pybytes())


texts = st.text(min_size=1, max_size=20)


@given(
    attributes=st.dictionaries(texts, st.text(max_size=50), max_size=5),
    data=st.binary(min_size=1, max_size=64),
)
@settings(max_examples=60, deadline=None)
def test_image_attributes_roundtrip(attributes: dict[str, str], data: bytes) -> None:
    image = ImageRecord(REF, 8, data, "png", (1, 2, 3), Provenance("cam"), attributes=attributes)
    (part,) = encode_records([image])
    (back,) = decode_records(part)
    assert isinstance(back, ImageRecord)
    assert dict(back.attributes) == attributes and back.data == data


def test_an_image_stream_without_attributes_decodes_with_none() -> None:
    import pyarrow as pa

    image = ImageRecord(REF, 8, b"\x00", "png", (1, 1, 1), Provenance("cam"), attributes={"a": "b"})
    (part,) = encode_records([image])
    table = pa.ipc.open_stream(pa.py_buffer(part)).read_all()
    older = table.drop_columns(["attributes"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, older.schema) as writer:
        writer.write_table(older)
    (back,) = decode_records(sink.getvalue().to_pybytes())
    assert isinstance(back, ImageRecord) and dict(back.attributes) == {}
