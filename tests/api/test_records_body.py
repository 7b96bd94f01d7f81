"""Bodies of ``POST /api/v1/records``: compact, and decoded per batch, not per row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from shopfloor.model import Provenance, ScalarBatch, SignalRef
from shopfloor.model.codec import decode_records, encode_records

REF = SignalRef("acme/plant1/machining/line1/cell1/cnc-01", "spindle_temperature")
PROV = Provenance("ingest", "/data/a-rather-long-folder-name/recording-2024-05-01.csv#1")


def batch(n: int, offset: int = 0, prov: Provenance = PROV) -> ScalarBatch:
    return ScalarBatch.of(REF, np.arange(offset, offset + n) * 1_000_000, np.ones(n), prov)


def test_a_scalar_body_costs_no_string_per_row() -> None:
    """Asset, signal and provenance travel once per batch (they made 3/4 of a body)."""
    n = 100_000
    (body,) = encode_records([batch(n)])
    assert len(body) < 60 * n
    (back,) = decode_records(body)
    assert isinstance(back, ScalarBatch)
    assert back.signal == REF and back.provenance == PROV and len(back) == n


def test_batches_keep_their_own_signal_and_provenance() -> None:
    other = Provenance("replay", "b.csv#7", True)
    records = [batch(3), batch(2, 10, other), batch(4, 20)]
    back = decode_records(encode_records(records)[0])
    assert [(r.provenance, len(r)) for r in back] == [(PROV, 3), (other, 2), (PROV, 4)]  # type: ignore[arg-type]


def test_a_body_with_a_string_per_row_still_decodes() -> None:
    """Streams written with plain string columns (earlier clients) are read the same."""
    (body,) = encode_records([batch(3), batch(2, 10)])
    table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    plain = table.cast(
        pa.schema(
            [
                pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                for f in table.schema
            ],
            metadata=table.schema.metadata,
        )
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, plain.schema) as writer:
        writer.write_table(plain)
    back = decode_records(sink.getvalue().to_pybytes())
    assert [len(r) for r in back] == [3, 2]  # type: ignore[arg-type]
    assert all(r.signal == REF and r.provenance == PROV for r in back)
