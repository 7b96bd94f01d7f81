"""The Sparkplug B host state: births, aliases, sequence numbers, deaths, rebirth requests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.sparkplug.codec import (
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
)
from shopfloor.connectors.sparkplug.host import REBIRTH_METRIC, HostState, Outcome
from shopfloor.connectors.sparkplug.mapping import AssetMapping
from shopfloor.model import EventRecord, Quality, ScalarBatch, Signal, SignalKind, SignalRef

TEMPLATE = "acme/plant1/{group}/{edge_node}/main/{device}"
NODE_ASSET = "acme/plant1/G/N/main/node"
PRESS = "acme/plant1/G/N/main/press"
T0 = 1_700_000_000_000  # ms


def _host(**kwargs: object) -> HostState:
    return HostState("sp", AssetMapping(TEMPLATE), **kwargs)  # type: ignore[arg-type]


def _payload(seq: int | None, *metrics: Metric, ts: int = T0) -> bytes:
    types = {"speed": DataType.DOUBLE, 1: DataType.DOUBLE, 2: DataType.STRING, 3: DataType.INT16}

    def datatype_of(name: str | None, alias: int | None) -> DataType | None:
        found = types.get(alias) if alias is not None else types.get(name)  # type: ignore[arg-type]
        return found or DataType.DOUBLE

    return encode_payload(Payload(timestamp_ms=ts, seq=seq, metrics=metrics), datatype_of)


def _birth_metrics(bd_seq: int = 0, at: int = T0) -> tuple[Metric, ...]:
    return (
        Metric(name="bdSeq", datatype=DataType.INT64, value=bd_seq),
        Metric(name=REBIRTH_METRIC, datatype=DataType.BOOLEAN, value=False),
        Metric(
            name="Line/Speed",
            alias=1,
            datatype=DataType.DOUBLE,
            value=120.0,
            timestamp_ms=at,
            properties={"engUnit": "m/min"},
        ),
    )


def _nbirth(host: HostState, *, bd_seq: int = 0, seq: int = 0, at: int = T0) -> Outcome:
    metrics = _birth_metrics(bd_seq, at)
    return _receive(host, "spBv1.0/G/NBIRTH/N", _payload(seq, *metrics, ts=at), at * 10**6)


def _dbirth(host: HostState, seq: int = 1, at: int = T0) -> Outcome:
    metrics = (
        Metric(name="Recipe", alias=2, datatype=DataType.STRING, value="A", timestamp_ms=at),
        Metric(
            name="Temperature",
            alias=3,
            datatype=DataType.INT16,
            value=-4,
            timestamp_ms=at,
            properties={"engUnit": "degC"},
        ),
        Metric(name="Table", alias=4, datatype=DataType.DATASET, value=None, timestamp_ms=at),
    )
    return _receive(host, "spBv1.0/G/DBIRTH/N/press", _payload(seq, *metrics, ts=at), at * 10**6)


def _ndata(host: HostState, seq: int, value: float, at: int) -> Outcome:
    metric = Metric(alias=1, value=value, timestamp_ms=at)
    return _receive(host, "spBv1.0/G/NDATA/N", _payload(seq, metric, ts=at), at * 10**6)


def _receive(host: HostState, topic: str, payload: bytes, received_ns: int) -> Outcome:
    """What one message gives, its scalar values taken at once."""
    out = host.receive(topic, payload, received_ns)
    out.records.extend(host.take_scalars())
    return out


def _scalars(out: Outcome) -> dict[SignalRef, list[float]]:
    return {r.signal: r.values.tolist() for r in out.records if isinstance(r, ScalarBatch)}


def _gaps(out: Outcome) -> list[EventRecord]:
    return [r for r in out.records if isinstance(r, EventRecord) and r.kind == "gap"]


def test_births_create_signals_with_unit_and_type_and_store_their_values() -> None:
    host = _host()
    out = _nbirth(host)
    speed = SignalRef(NODE_ASSET, "Line.Speed")
    assert [s.name for s in out.declare[NODE_ASSET]] == ["Line.Speed"]
    definition = out.declare[NODE_ASSET][0]
    assert (definition.unit, definition.dtype, definition.source) == (
        "m/min",
        "float64",
        "G/N:Line/Speed",
    )
    assert _scalars(out) == {speed: [120.0]}
    assert not out.letters and not out.commands
    out = _dbirth(host)
    kinds = {s.name: (s.kind, s.dtype, s.unit) for s in out.declare[PRESS]}
    assert kinds == {
        "Recipe": (SignalKind.EVENT, "float64", ""),
        "Temperature": (SignalKind.SCALAR, "int16", "degC"),
    }
    assert _scalars(out) == {SignalRef(PRESS, "Temperature"): [-4.0]}
    events = [r for r in out.records if isinstance(r, EventRecord)]
    assert [(e.signal.name, e.message, e.ts_ns) for e in events] == [("Recipe", "A", T0 * 10**6)]
    (letter,) = out.letters  # the dataset: not stored, said so
    assert "DATASET" in letter.reason and letter.location == "spBv1.0/G/DBIRTH/N/press"
    assert host.details()["G/N"]["devices"] == {"press": "online"}


def test_data_resolves_aliases_against_the_birth() -> None:
    host = _host()
    _nbirth(host)
    _dbirth(host)
    out = _ndata(host, 2, 121.5, T0 + 100)
    assert _scalars(out) == {SignalRef(NODE_ASSET, "Line.Speed"): [121.5]}
    (batch,) = out.records
    assert isinstance(batch, ScalarBatch) and batch.ts_ns.tolist() == [(T0 + 100) * 10**6]
    assert batch.provenance.address == "G/N:Line/Speed"
    data = _payload(3, Metric(alias=3, value=7, timestamp_ms=T0 + 200))
    out = _receive(host, "spBv1.0/G/DDATA/N/press", data, (T0 + 200) * 10**6)
    assert _scalars(out) == {SignalRef(PRESS, "Temperature"): [7.0]}
    assert not out.declare, "a signal is declared once, at its birth"


def test_sequence_numbers_wrap_and_a_gap_asks_for_a_rebirth() -> None:
    host = _host()
    _nbirth(host, seq=250)
    for i, seq in enumerate([251, 252, 253, 254, 255, 0, 1]):
        out = _ndata(host, seq, float(i), T0 + 100 * (i + 1))
        assert not out.commands and not out.letters and not _gaps(out), seq
    out = _ndata(host, 5, 9.0, T0 + 2000)  # 2, 3 and 4 lost
    (command,) = out.commands
    assert command[0] == "spBv1.0/G/NCMD/N"
    assert decode_payload(command[1]).metrics[0].name == REBIRTH_METRIC
    assert decode_payload(command[1]).metrics[0].value is True
    assert _scalars(out) == {SignalRef(NODE_ASSET, "Line.Speed"): [9.0]}  # still stored
    (gap,) = _gaps(out)
    assert gap.attributes["from_ns"] == (T0 + 700) * 10**6
    assert gap.attributes["to_ns"] == (T0 + 2000) * 10**6
    assert "expected seq 2, got 5 (3 lost)" in gap.attributes["cause"]
    health = host.details()["G/N"]
    assert health["seq_gaps"] == 1 and health["rebirths_requested"] == 1
    assert "expected seq 2" in health["last_error"]
    assert not _ndata(host, 6, 1.0, T0 + 2100).commands  # follows on from 5
    assert not _ndata(host, 9, 1.0, T0 + 2200).commands, "one request per interval"
    out = _nbirth(host, at=T0 + 2300)
    assert not out.commands and not out.letters


def test_data_before_birth_is_a_dead_letter_and_a_rebirth_request() -> None:
    host = _host()
    out = _ndata(host, 4, 1.0, T0)
    (letter,) = out.letters
    assert letter.location == "spBv1.0/G/NDATA/N"
    assert "before the edge node's NBIRTH" in letter.reason
    assert letter.payload  # the message as received
    assert [t for t, _ in out.commands] == ["spBv1.0/G/NCMD/N"]
    assert host.details()["G/N"]["state"] == "awaiting_birth"
    _nbirth(host)
    data = _payload(1, Metric(alias=9, value=1.0, timestamp_ms=T0))
    out = _receive(host, "spBv1.0/G/DDATA/N/other", data, T0 * 10**6)
    assert "before the device's DBIRTH" in out.letters[0].reason


def test_an_unknown_alias_is_a_dead_letter_naming_it() -> None:
    host = _host()
    _nbirth(host)
    data = _payload(1, Metric(alias=1, value=2.0), Metric(alias=77, value=1.0))
    out = _receive(host, "spBv1.0/G/NDATA/N", data, T0 * 10**6)
    assert _scalars(out) == {SignalRef(NODE_ASSET, "Line.Speed"): [2.0]}
    (letter,) = out.letters
    assert "alias 77 is not in the birth of G/N" in letter.reason
    assert out.commands


def test_death_marks_values_bad_and_the_next_birth_records_the_gap() -> None:
    host = _host()
    _nbirth(host, bd_seq=3)
    _dbirth(host)
    _ndata(host, 2, 1.0, T0 + 100)
    death = encode_payload(
        Payload(metrics=(Metric(name="bdSeq", datatype=DataType.INT64, value=3),))
    )
    out = _receive(host, "spBv1.0/G/NDEATH/N", death, (T0 + 500) * 10**6)
    bad = {r.signal.name: r for r in out.records if isinstance(r, ScalarBatch)}
    assert set(bad) == {"Line.Speed", "Temperature"}
    assert all(r.quality.tolist() == [Quality.BAD] for r in bad.values())
    assert all(math.isnan(r.values[0]) for r in bad.values())
    assert host.details()["G/N"]["state"] == "offline"
    assert host.details()["G/N"]["devices"] == {"press": "offline"}
    out = _ndata(host, 3, 1.0, T0 + 600)
    assert "after the edge node's NDEATH" in out.letters[0].reason
    out = _nbirth(host, bd_seq=4, at=T0 + 5000)
    (gap,) = _gaps(out)
    assert gap.signal.name == "Line.Speed"
    assert (gap.attributes["from_ns"], gap.attributes["to_ns"]) == (
        (T0 + 500) * 10**6,  # the death, not the last value: values come by exception
        (T0 + 5000) * 10**6,
    )
    assert "NDEATH" in gap.message
    out = _dbirth(host, at=T0 + 5001)
    assert [g.signal.name for g in _gaps(out)] == ["Recipe", "Temperature"]


def test_a_death_of_an_earlier_session_is_dead_lettered() -> None:
    host = _host()
    _nbirth(host, bd_seq=5)
    death = encode_payload(
        Payload(metrics=(Metric(name="bdSeq", datatype=DataType.INT64, value=4),))
    )
    out = _receive(host, "spBv1.0/G/NDEATH/N", death, T0 * 10**6)
    assert "bdSeq 4 is not of the current session (NBIRTH bdSeq 5)" in out.letters[0].reason
    assert not out.records
    assert host.details()["G/N"]["state"] == "online"


def test_a_device_death_marks_its_signals_only() -> None:
    host = _host()
    _nbirth(host)
    _dbirth(host)
    out = _receive(host, "spBv1.0/G/DDEATH/N/press", _payload(2), (T0 + 10) * 10**6)
    assert {r.signal.name for r in out.records} == {"Temperature"}
    data = _payload(3, Metric(alias=3, value=7, timestamp_ms=T0 + 20))
    out = _receive(host, "spBv1.0/G/DDATA/N/press", data, (T0 + 20) * 10**6)
    assert "DDATA after the device's DDEATH" in out.letters[0].reason
    _nbirth(host, at=T0 + 30)
    data = _payload(1, Metric(alias=3, value=7, timestamp_ms=T0 + 40))
    out = _receive(host, "spBv1.0/G/DDATA/N/press", data, (T0 + 40) * 10**6)
    assert "DDATA before the device's DBIRTH" in out.letters[0].reason
    assert host.details()["G/N"] == host.details()["G/N"] | {
        "state": "online",
        "devices": {"press": "offline"},
    }


def test_a_wrong_protobuf_is_a_dead_letter_and_the_rest_goes_on() -> None:
    host = _host()
    _nbirth(host)
    out = _receive(host, "spBv1.0/G/NDATA/N", b"\xff\xff\xff not protobuf", T0 * 10**6)
    (letter,) = out.letters
    assert letter.location == "spBv1.0/G/NDATA/N"
    assert "not a Sparkplug B payload" in letter.reason
    assert letter.detail["category"] == "undecodable"
    assert _scalars(_ndata(host, 1, 5.0, T0 + 1)) == {SignalRef(NODE_ASSET, "Line.Speed"): [5.0]}


def test_bad_topics_are_dead_letters_and_state_and_commands_are_not_data() -> None:
    host = _host()
    assert "unknown message type" in _receive(host, "spBv1.0/G/XX/N", b"", 1).letters[0].reason
    assert _receive(host, "spBv1.0/STATE/other", b'{"online": true}', 1) == Outcome()
    assert _receive(host, "spBv1.0/G/NCMD/N", b"", 1) == Outcome()


def test_bound_signals_take_their_metric_and_others_are_refused_without_auto_signals() -> None:
    ref = SignalRef("a/b/c/d/e/f", "line_speed")
    bound = BoundSignal(ref, Signal(name="line_speed"), "G/N:Line/Speed")
    host = _host(bound=[bound], auto_signals=False)
    out = _nbirth(host)
    assert not out.declare
    assert _scalars(out) == {ref: [120.0]}
    out = _dbirth(host)
    assert not out.records
    reasons = sorted(letter.reason for letter in out.letters)
    assert any("bound to no signal and auto_signals is off" in r for r in reasons)


def test_a_bound_signal_of_the_wrong_kind_is_refused() -> None:
    ref = SignalRef("a/b/c/d/e/f", "recipe")
    bound = BoundSignal(ref, Signal(name="recipe"), "G/N/press:Recipe")
    host = _host(bound=[bound])
    _nbirth(host)
    out = _dbirth(host)
    assert any("needs a event signal" in letter.reason for letter in out.letters)


def test_two_metrics_on_one_signal_name_are_refused() -> None:
    host = _host()
    metrics = (
        Metric(name="bdSeq", datatype=DataType.INT64, value=0),
        Metric(name="a b", alias=1, datatype=DataType.DOUBLE, value=1.0),
        Metric(name="a_b", alias=2, datatype=DataType.DOUBLE, value=2.0),
    )
    out = _receive(host, "spBv1.0/G/NBIRTH/N", _payload(0, *metrics), T0 * 10**6)
    assert _scalars(out) == {SignalRef(NODE_ASSET, "a_b"): [1.0]}
    assert "which 'G/N:a b' feeds already" in out.letters[0].reason


def test_a_refused_signal_turns_its_values_into_dead_letters() -> None:
    host = _host()
    out = _nbirth(host)
    host.refuse(NODE_ASSET, out.declare[NODE_ASSET], "SignalKindMismatch: was an event", out)
    assert not out.records
    assert "could not be created: SignalKindMismatch" in out.letters[0].reason
    later = _ndata(host, 1, 3.0, T0 + 1)
    assert not later.records and "could not be created" in later.letters[0].reason


def test_values_waiting_for_a_batch_of_a_refused_signal_become_dead_letters() -> None:
    host = _host()
    out = host.receive("spBv1.0/G/NBIRTH/N", _payload(0, *_birth_metrics()), T0 * 10**6)
    assert host.pending_values == 1 and not out.records
    host.refuse(NODE_ASSET, out.declare[NODE_ASSET], "refused", out)
    assert host.pending_values == 0 and not host.take_scalars()
    assert "could not be created: refused" in out.letters[0].reason


def test_values_of_many_messages_make_one_batch_per_signal() -> None:
    host = _host()
    host.receive("spBv1.0/G/NBIRTH/N", _payload(0, *_birth_metrics()), T0 * 10**6)
    for seq in range(1, 300):
        data = _payload(seq % 256, Metric(alias=1, value=float(seq), timestamp_ms=T0 + seq))
        host.receive("spBv1.0/G/NDATA/N", data, (T0 + seq) * 10**6)
    (batch,) = host.take_scalars()
    assert len(batch) == 300 and batch.values[-1] == 299.0
    assert np.all(np.diff(batch.ts_ns) > 0)
    assert not host.take_scalars()


def test_reconnect_makes_every_node_wait_for_its_birth() -> None:
    host = _host()
    _nbirth(host)
    _ndata(host, 1, 1.0, T0 + 100)
    host.session_started()
    out = _ndata(host, 2, 2.0, T0 + 200)
    assert out.letters and out.commands
    out = _nbirth(host, at=T0 + 900)
    (gap,) = _gaps(out)
    assert "connection to the broker was lost" in gap.attributes["cause"]


@pytest.mark.parametrize(
    ("datatype", "value", "stored"),
    [
        (DataType.BOOLEAN, True, 1.0),
        (DataType.UINT64, 2**60, float(2**60)),
        (DataType.FLOAT, 1.5, 1.5),
        (DataType.INT8, -3, -3.0),
    ],
)
def test_scalar_types_are_stored_as_numbers(
    datatype: DataType, value: object, stored: float
) -> None:
    host = _host()
    metrics = (
        Metric(name="bdSeq", datatype=DataType.INT64, value=0),
        Metric(name="m", alias=1, datatype=datatype, value=value),  # type: ignore[arg-type]
    )
    out = _receive(host, "spBv1.0/G/NBIRTH/N", _payload(0, *metrics), T0 * 10**6)
    assert _scalars(out) == {SignalRef(NODE_ASSET, "m"): [stored]}
    np.testing.assert_array_equal(out.records[0].quality, [Quality.GOOD])  # type: ignore[union-attr]


_STEP = st.one_of(
    st.tuples(st.just("NBIRTH"), st.integers(0, 3)),
    st.tuples(st.just("DBIRTH"), st.just(0)),
    st.tuples(st.just("NDATA"), st.integers(0, 3)),
    st.tuples(st.just("DDATA"), st.integers(0, 3)),
    st.tuples(st.just("NDEATH"), st.integers(0, 3)),
    st.tuples(st.just("DDEATH"), st.just(0)),
    st.tuples(st.just("garbage"), st.just(0)),
)


@given(st.lists(_STEP, max_size=40), st.lists(st.sampled_from([1, 3, 9]), min_size=40, max_size=40))
@settings(max_examples=150, deadline=None)
def test_every_value_offered_is_stored_or_dead_lettered(
    steps: list[tuple[str, int]], aliases: list[int]
) -> None:
    """Whatever the order of births, data, deaths, gaps and garbage: nothing silently lost."""
    host = _host()
    seq, at = 0, T0
    for i, (kind, arg) in enumerate(steps):
        at += 10
        device = kind in ("DBIRTH", "DDATA", "DDEATH")
        topic = f"spBv1.0/G/{'NDATA' if kind == 'garbage' else kind}/N" + (
            "/press" if device else ""
        )
        metrics: tuple[Metric, ...] = ()
        if kind == "NBIRTH":
            seq = 0
            raw = _payload(0, *_birth_metrics(arg, at), ts=at)
        elif kind == "DBIRTH":
            seq = (seq + 1) % 256
            raw = _payload(
                seq,
                Metric(
                    name="Temperature", alias=3, datatype=DataType.INT16, value=1, timestamp_ms=at
                ),
                ts=at,
            )
        elif kind in ("NDATA", "DDATA"):
            seq = (seq + 1 + (arg == 3)) % 256  # arg 3: a message lost before this one
            alias = aliases[i % len(aliases)]
            value = i % 100 if alias == 3 else float(i)  # 3: Int16, 1: Double, 9: not born
            metrics = (Metric(alias=alias, value=value, timestamp_ms=at),)
            raw = _payload(seq, *metrics, ts=at)
        elif kind == "NDEATH":
            raw = encode_payload(
                Payload(metrics=(Metric(name="bdSeq", datatype=DataType.INT64, value=arg),))
            )
        elif kind == "DDEATH":
            seq = (seq + 1) % 256
            raw = _payload(seq, ts=at)
        else:
            raw = b"\xff\xfe garbage"
        out = _receive(host, topic, raw, at * 10**6)
        whole = [x for x in out.letters if x.payload == raw]
        if kind == "garbage":
            assert whole, "garbage is a dead letter"
        for metric in metrics:
            stored = any(
                (isinstance(r, ScalarBatch) and at * 10**6 in r.ts_ns.tolist())
                or (isinstance(r, EventRecord) and r.ts_ns == at * 10**6 and r.kind != "gap")
                for r in out.records
            )
            lettered = whole or any(
                metric.label in str(x.payload) or metric.label in x.reason for x in out.letters
            )
            assert stored or lettered, (kind, metric, out)
