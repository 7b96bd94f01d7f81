"""Records as bytes: Arrow IPC streams for the API and, later, the MQTT bus.

Columnar and zero-copy for scalars and waveform payloads; events, images and dead letters
carry their attributes as JSON text. ``decode_records(encode_records(r))`` gives ``r`` back
(property-tested).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from shopfloor.model.quality import Quality
from shopfloor.model.records import (
    DeadLetter,
    EventRecord,
    ImageRecord,
    Provenance,
    Record,
    ScalarBatch,
    WaveformBlock,
)
from shopfloor.model.signal import SignalRef

__all__ = ["decode_dead_letters", "decode_records", "encode_dead_letters", "encode_records"]

_KIND = b"shopfloor.kind"


def _ipc(table: pa.Table, kind: str) -> bytes:
    table = table.replace_schema_metadata({_KIND: kind.encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _prov_columns(provs: Sequence[Provenance]) -> dict[str, pa.Array]:
    return {
        "connector": pa.array([p.connector for p in provs], type=pa.string()),
        "address": pa.array([p.address for p in provs], type=pa.string()),
        "backfilled": pa.array([p.backfilled for p in provs], type=pa.bool_()),
    }


def _per_batch(values: list[Any], batch: pa.Array, kind: pa.DataType) -> pa.DictionaryArray:
    """One value per batch, spread over its rows as a dictionary column (no copy per row)."""
    return pa.DictionaryArray.from_arrays(batch, pa.array(values, kind))


def _scalar_table(scalars: Sequence[ScalarBatch]) -> pa.Table:
    """The rows of ``scalars``; the columns that hold one value per batch are dictionaries.

    A per-row string column would cost a Python string per row to write and to read
    (most of the time of a big write over the API); the dictionary costs one per batch.
    """
    sizes = [len(b) for b in scalars]
    batch = pa.array(np.repeat(np.arange(len(scalars), dtype=np.int32), sizes), pa.int32())
    provs = [b.provenance for b in scalars]
    return pa.table(
        {
            "asset": _per_batch([b.signal.asset for b in scalars], batch, pa.string()),
            "signal": _per_batch([b.signal.name for b in scalars], batch, pa.string()),
            "ts": pa.array(np.concatenate([b.ts_ns for b in scalars]), pa.int64()),
            "value": pa.array(np.concatenate([b.values for b in scalars]), pa.float64()),
            "quality": pa.array(np.concatenate([b.quality for b in scalars]), pa.uint8()),
            "status_code": pa.array(np.concatenate([b.status_code for b in scalars]), pa.uint32()),
            "ingest": pa.array(np.concatenate([b.ingest_ns for b in scalars]), pa.int64()),
            "batch": batch,
            "connector": _per_batch([p.connector for p in provs], batch, pa.string()),
            "address": _per_batch([p.address for p in provs], batch, pa.string()),
            "backfilled": _per_batch([p.backfilled for p in provs], batch, pa.bool_()),
        }
    )


def encode_records(records: Sequence[Record]) -> list[bytes]:
    """Encode records as Arrow IPC streams, one per record kind present."""
    out: list[bytes] = []
    scalars = [r for r in records if isinstance(r, ScalarBatch)]
    if scalars:
        out.append(_ipc(_scalar_table(scalars), "scalars"))
    blocks = [r for r in records if isinstance(r, WaveformBlock)]
    if blocks:
        datas = [np.ascontiguousarray(b.data) for b in blocks]
        out.append(
            _ipc(
                pa.table(
                    {
                        "asset": [b.signal.asset for b in blocks],
                        "signal": [b.signal.name for b in blocks],
                        "t0": pa.array([b.t0_ns for b in blocks], pa.int64()),
                        "sample_rate_hz": pa.array(
                            [b.sample_rate_hz for b in blocks], pa.float64()
                        ),
                        "shape": pa.array([list(d.shape) for d in datas], pa.list_(pa.int64())),
                        "dtype": [d.dtype.str for d in datas],
                        "unit": [b.unit for b in blocks],
                        "quality": pa.array([int(b.quality) for b in blocks], pa.uint8()),
                        "status_code": pa.array([b.status_code for b in blocks], pa.uint32()),
                        "ingest": pa.array([b.ingest_ns for b in blocks], pa.int64()),
                        "payload": pa.array([d.tobytes() for d in datas], pa.binary()),
                        **_prov_columns([b.provenance for b in blocks]),
                    }
                ),
                "waveforms",
            )
        )
    images = [r for r in records if isinstance(r, ImageRecord)]
    if images:
        out.append(
            _ipc(
                pa.table(
                    {
                        "asset": [r.signal.asset for r in images],
                        "signal": [r.signal.name for r in images],
                        "ts": pa.array([r.ts_ns for r in images], pa.int64()),
                        "format": [r.format for r in images],
                        "shape": pa.array([list(r.shape) for r in images], pa.list_(pa.int64())),
                        "quality": pa.array([int(r.quality) for r in images], pa.uint8()),
                        "status_code": pa.array([r.status_code for r in images], pa.uint32()),
                        "ingest": pa.array([r.ingest_ns for r in images], pa.int64()),
                        "payload": pa.array([r.data for r in images], pa.binary()),
                        "attributes": [json.dumps(dict(r.attributes)) for r in images],
                        **_prov_columns([r.provenance for r in images]),
                    }
                ),
                "images",
            )
        )
    events = [r for r in records if isinstance(r, EventRecord)]
    if events:
        out.append(
            _ipc(
                pa.table(
                    {
                        "asset": [e.signal.asset for e in events],
                        "signal": [e.signal.name for e in events],
                        "ts": pa.array([e.ts_ns for e in events], pa.int64()),
                        "kind": [e.kind for e in events],
                        "message": [e.message for e in events],
                        "severity": [e.severity for e in events],
                        "attributes": [json.dumps(dict(e.attributes), default=str) for e in events],
                        "quality": pa.array([int(e.quality) for e in events], pa.uint8()),
                        "ingest": pa.array([e.ingest_ns for e in events], pa.int64()),
                        **_prov_columns([e.provenance for e in events]),
                    }
                ),
                "events",
            )
        )
    return out


def _col(table: pa.Table, name: str) -> list[Any]:
    values: list[Any] = table.column(name).to_pylist()
    return values


def decode_records(payload: bytes) -> list[Record]:
    """Decode one Arrow IPC stream made by :func:`encode_records`.

    Raises ``ValueError`` naming what is wrong when the bytes are not such a stream.
    """
    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as err:
        raise ValueError(f"not an Arrow IPC stream of records: {err}") from err
    kind = (table.schema.metadata or {}).get(_KIND, b"").decode()
    try:
        return _decode_table(table, kind)
    except (KeyError, TypeError, pa.ArrowInvalid) as err:
        raise ValueError(f"malformed {kind or 'unknown'} records: {err}") from err


def _provs(table: pa.Table) -> list[Provenance]:
    return [
        Provenance(c, a, bool(b))
        for c, a, b in zip(
            _col(table, "connector"), _col(table, "address"), _col(table, "backfilled"), strict=True
        )
    ]


def _decode_table(table: pa.Table, kind: str) -> list[Record]:
    if kind == "scalars":
        batch_ids = table.column("batch").to_numpy()
        if batch_ids.shape[0] == 0:
            return []
        starts = np.flatnonzero(np.r_[True, batch_ids[1:] != batch_ids[:-1]])
        ends = np.r_[starts[1:], batch_ids.shape[0]]
        # one value per batch: read at the batch starts, not row by row
        firsts = table.take(pa.array(starts, pa.int64()))
        assets, signals = _col(firsts, "asset"), _col(firsts, "signal")
        provs = _provs(firsts)
        arrays = {
            n: table.column(n).to_numpy()
            for n in ("ts", "value", "quality", "status_code", "ingest")
        }
        return [
            ScalarBatch(
                SignalRef(assets[k], signals[k]),
                arrays["ts"][s:e].astype(np.int64),
                arrays["value"][s:e].astype(np.float64),
                arrays["quality"][s:e].astype(np.uint8),
                arrays["status_code"][s:e].astype(np.uint32),
                arrays["ingest"][s:e].astype(np.int64),
                provs[k],
            )
            for k, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))
        ]
    if kind == "waveforms":
        out: list[Record] = []
        for i, prov in enumerate(_provs(table)):
            row = {n: table.column(n)[i].as_py() for n in table.column_names}
            data = np.frombuffer(row["payload"], dtype=np.dtype(row["dtype"])).reshape(row["shape"])
            out.append(
                WaveformBlock(
                    SignalRef(row["asset"], row["signal"]),
                    row["t0"],
                    row["sample_rate_hz"],
                    data,
                    row["unit"],
                    prov,
                    Quality(row["quality"]),
                    row["status_code"],
                    row["ingest"],
                )
            )
        return out
    if kind == "images":
        # streams of an older version carry no attributes
        attributes = (
            [json.loads(a) for a in _col(table, "attributes")]
            if "attributes" in table.column_names
            else [{}] * table.num_rows
        )
        return [
            ImageRecord(
                SignalRef(a, s),
                ts,
                payload,
                fmt,
                (shape[0], shape[1], shape[2]),
                prov,
                Quality(q),
                status,
                ingest,
                attrs,
            )
            for a, s, ts, fmt, shape, q, status, ingest, payload, prov, attrs in zip(
                _col(table, "asset"),
                _col(table, "signal"),
                _col(table, "ts"),
                _col(table, "format"),
                _col(table, "shape"),
                _col(table, "quality"),
                _col(table, "status_code"),
                _col(table, "ingest"),
                _col(table, "payload"),
                _provs(table),
                attributes,
                strict=True,
            )
        ]
    if kind == "events":
        return [
            EventRecord(
                SignalRef(a, s), ts, k, prov, msg, sev, json.loads(attrs), Quality(q), ingest
            )
            for a, s, ts, k, msg, sev, attrs, q, ingest, prov in zip(
                _col(table, "asset"),
                _col(table, "signal"),
                _col(table, "ts"),
                _col(table, "kind"),
                _col(table, "message"),
                _col(table, "severity"),
                _col(table, "attributes"),
                _col(table, "quality"),
                _col(table, "ingest"),
                _provs(table),
                strict=True,
            )
        ]
    raise ValueError(f"unknown record kind {kind!r} in the stream")


def encode_dead_letters(letters: Sequence[DeadLetter]) -> list[dict[str, Any]]:
    """Dead letters as JSON-able dicts (payload as latin-1 text, lossless for bytes)."""
    return [
        {
            "source": d.source,
            "location": d.location,
            "reason": d.reason,
            "payload": d.payload.decode("latin-1") if isinstance(d.payload, bytes) else d.payload,
            "payload_is_bytes": isinstance(d.payload, bytes),
            "received_ns": d.received_ns,
            "detail": dict(d.detail),
        }
        for d in letters
    ]


def decode_dead_letters(items: Sequence[dict[str, Any]]) -> list[DeadLetter]:
    """Inverse of :func:`encode_dead_letters`."""
    return [
        DeadLetter(
            source=str(d["source"]),
            location=str(d["location"]),
            reason=str(d["reason"]),
            payload=d["payload"].encode("latin-1") if d.get("payload_is_bytes") else d["payload"],
            received_ns=int(d["received_ns"]),
            detail=dict(d.get("detail") or {}),
        )
        for d in items
    ]
