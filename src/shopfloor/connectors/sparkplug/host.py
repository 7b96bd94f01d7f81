"""The Sparkplug B host application's state: births, aliases, sequence numbers and deaths.

Pure and synchronous: :meth:`HostState.receive` takes one message (its topic, its bytes
and when it arrived) and returns an :class:`Outcome`: the signals to create, the events
to store, the dead letters and the commands to publish (rebirth requests). Scalar values
wait in the state, so that many messages make one batch per signal:
:meth:`HostState.take_scalars` hands them over. The connector (:mod:`.client`) does the
I/O. What it does with each message type:

- **NBIRTH / DBIRTH**: the birth certificate lists every metric with its name, alias,
  data type and current value. Each metric gets a signal: the one the project binds to
  ``<group>/<edge node>[/<device>]:<metric>``, else (``auto_signals``) one created under
  the asset path of :mod:`.mapping`, with the data type and the ``engUnit`` property of
  the birth. Its values are stored. An NBIRTH resets the node's devices (they are born
  again after it) and its sequence number; its ``bdSeq`` is kept for the NDEATH.
- **NDATA / DDATA**: each metric is found by alias (or name) in the birth and its value
  stored with its own timestamp (else the payload's, else the arrival time).
- **NDEATH / DDEATH**: the edge node (and its devices) or the device goes offline; each of
  its scalar signals gets a ``BAD`` sample at that moment, and its next value brings a
  ``gap`` event from the death to that value (a gap needs its end: values are reported
  by exception, so the quiet stretch before the death is no gap). An NDEATH whose
  ``bdSeq`` is not the birth's is the will of an earlier session: dead-lettered, the node
  stays online.
- **Sequence numbers** (0–255, wrapping) run over every message of an edge node but its
  NDEATH. A number that does not follow means messages were lost: the message itself is
  still stored, a ``gap`` event goes on every signal of the node, and a rebirth is
  requested (NCMD ``Node Control/Rebirth`` = true).
- Data that cannot be resolved (before a birth, an alias the birth did not name, after a
  death, after the host's own reconnect) is a dead letter naming the topic and the reason,
  and a rebirth is requested, at most once per ``rebirth_interval_s`` and node.
- Bytes that are no Sparkplug payload, a metric of a type that is not stored (DataSet,
  Template, Bytes, File, BooleanArray, PropertySet) or a value that does not fit its type:
  dead letters; the rest of the message is kept.

Values: numbers and booleans are scalar records (DateTime: milliseconds since 1970);
strings and arrays are events of kind ``value_change`` on an event signal (``value`` or
``values`` attribute). ``is_transient`` values are not stored (counted in the health);
``is_historical`` ones are stored as backfilled. Metrics ``bdSeq`` and ``Node Control/*``,
``Device Control/*`` are the protocol's own and not stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.sparkplug.codec import (
    ARRAY_FORMATS,
    DataType,
    Metric,
    MetricValue,
    Payload,
    decode_payload,
    encode_payload,
)
from shopfloor.connectors.sparkplug.mapping import (
    AssetMapping,
    node_address,
    parse_source,
    signal_name_of,
)
from shopfloor.connectors.sparkplug.topics import (
    NAMESPACE,
    MessageType,
    NodeKey,
    SparkplugTopic,
    command_topic,
    parse_topic,
)
from shopfloor.errors import PayloadRejected
from shopfloor.model import (
    DeadLetter,
    EventRecord,
    Provenance,
    Quality,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
)
from shopfloor.model.timestamps import format_ns
from shopfloor.model.units import validate_unit

__all__ = ["REBIRTH_METRIC", "HostState", "Outcome", "rebirth_request"]

REBIRTH_METRIC = "Node Control/Rebirth"
"""The NCMD metric that asks an edge node to publish its births again."""

_CONTROL_PREFIXES = ("Node Control/", "Device Control/")
_NS_PER_MS = 1_000_000

_DTYPES: dict[DataType, str] = {
    DataType.INT8: "int16",
    DataType.INT16: "int16",
    DataType.INT32: "int32",
    DataType.INT64: "int64",
    DataType.UINT8: "uint8",
    DataType.UINT16: "uint16",
    DataType.UINT32: "int64",
    DataType.UINT64: "float64",
    DataType.FLOAT: "float32",
    DataType.DOUBLE: "float64",
    DataType.BOOLEAN: "bool",
    DataType.DATETIME: "int64",
}
"""Scalar data types and the dtype of their signal."""

_EVENTS = frozenset(
    {DataType.STRING, DataType.TEXT, DataType.UUID, DataType.STRING_ARRAY, *ARRAY_FORMATS}
)
"""Data types stored as events (strings and arrays)."""


def rebirth_request(timestamp_ms: int) -> bytes:
    """The NCMD payload that asks an edge node to publish its births again."""
    metric = Metric(name=REBIRTH_METRIC, datatype=DataType.BOOLEAN, value=True)
    return encode_payload(Payload(timestamp_ms=timestamp_ms, metrics=(metric,)))


@dataclass
class Outcome:
    """What one message asks for, to be done in this order.

    Attributes
    ----------
    declare
        New or changed signal definitions by asset path (create before the records).
    records
        Events to store (values of event signals, ``gap`` events); scalar values wait
        for :meth:`HostState.take_scalars`.
    letters
        What cannot be taken, with the reason.
    commands
        ``(topic, payload)`` to publish: rebirth requests.
    """

    declare: dict[str, list[Signal]] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    commands: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class _Column:
    """Scalar values of one signal waiting to be handed on in one batch."""

    ts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    ingest: list[int] = field(default_factory=list)

    def add(self, ts: int, value: float | None, at_ns: int) -> None:
        """A value (``None``: no value, kept as NaN with quality ``BAD``)."""
        self.ts.append(ts)
        self.values.append(math.nan if value is None else value)
        self.quality.append(Quality.BAD if value is None else Quality.GOOD)
        self.ingest.append(at_ns)

    def batch(self, ref: SignalRef, provenance: Provenance) -> ScalarBatch:
        n = len(self.ts)
        return ScalarBatch(
            ref,
            np.fromiter(self.ts, np.int64, n),
            np.fromiter(self.values, np.float64, n),
            np.fromiter(self.quality, np.uint8, n),
            np.zeros(n, np.uint32),
            np.fromiter(self.ingest, np.int64, n),
            provenance,
        )


@dataclass
class _Binding:
    """A metric of a birth and the signal its values go to."""

    metric: str
    datatype: DataType
    address: str
    ref: SignalRef | None = None
    event: bool = False
    refusal: str | None = None
    control: bool = False
    provenance: Provenance | None = None

    def provenance_of(self, connector: str, historical: bool) -> Provenance:
        """Where its values come from (kept: one object per metric, not per value)."""
        if historical:
            return Provenance(connector, self.address, backfilled=True)
        if self.provenance is None:
            self.provenance = Provenance(connector, self.address)
        return self.provenance


@dataclass
class _Device:
    online: bool = False
    died: bool = False  # a DDEATH, not its node's NDEATH or NBIRTH, took it offline
    by_name: dict[str, _Binding] = field(default_factory=dict)
    by_alias: dict[int, _Binding] = field(default_factory=dict)

    def find(self, metric: Metric) -> _Binding | None:
        return self.lookup(metric.name, metric.alias)

    def lookup(self, name: str | None, alias: int | None) -> _Binding | None:
        if alias is not None and alias in self.by_alias:
            return self.by_alias[alias]
        return self.by_name.get(name) if name is not None else None

    def datatype_of(self, name: str | None, alias: int | None) -> DataType | None:
        """The birth's data type of a data message's metric (the codec's ``datatype_of``)."""
        binding = self.lookup(name, alias)
        return None if binding is None else binding.datatype

    def refs(self) -> set[SignalRef]:
        return {b.ref for b in self.by_name.values() if b.ref is not None and not b.refusal}


_UNBORN = _Device()
"""The device of a message whose device has no birth: it knows no data types."""


@dataclass
class _Node:
    group: str
    edge_node: str
    state: str = "awaiting_birth"
    bd_seq: int | None = None
    seq: int | None = None
    devices: dict[str | None, _Device] = field(default_factory=dict)
    last_ts: dict[SignalRef, int] = field(default_factory=dict)
    gap_pending: dict[SignalRef, tuple[str, int | None]] = field(default_factory=dict)
    """Signals whose next value ends a gap: its cause and start (``None``: the last value)."""
    rebirth_at_ns: int | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "messages",
                "births",
                "deaths",
                "seq_gaps",
                "rebirths_requested",
                "dead_letters",
                "transient_skipped",
            ),
            0,
        )
    )
    last_birth_ns: int | None = None
    last_death_ns: int | None = None
    last_error: str | None = None
    last_error_ns: int | None = None

    @property
    def address(self) -> str:
        return node_address(self.group, self.edge_node, None)

    def refs(self) -> set[SignalRef]:
        out: set[SignalRef] = set()
        for device in self.devices.values():
            out |= device.refs()
        return out

    def details(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "devices": {
                device: "online" if d.online else "offline"
                for device, d in sorted(self.devices.items(), key=lambda kv: kv[0] or "")
                if device is not None
            },
            "bd_seq": self.bd_seq,
            "seq": self.seq,
            **self.counts,
            "last_birth_at": _iso(self.last_birth_ns),
            "last_death_at": _iso(self.last_death_ns),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_ns),
        }


def _iso(ns: int | None) -> str | None:
    return None if ns is None else format_ns(ns)


@dataclass
class _Message:
    """One message being handled: where it came from, what it holds, what it asks for."""

    node: _Node
    where: SparkplugTopic
    payload: Payload
    raw: bytes
    received_ns: int
    out: Outcome

    @property
    def topic(self) -> str:
        return str(self.where)


class HostState:
    """Everything the host application knows about the edge nodes it follows.

    Parameters
    ----------
    connector
        The connector's name (provenance and dead letters).
    mapping
        Where metrics land.
    bound
        The project's signals bound to this connector (``source`` names the metric).
    auto_signals
        Create signals for metrics no bound signal names.
    rebirth_interval_s
        At most one rebirth request per edge node this often.
    """

    def __init__(
        self,
        connector: str,
        mapping: AssetMapping,
        bound: Sequence[BoundSignal] = (),
        *,
        auto_signals: bool = True,
        rebirth_interval_s: float = 5.0,
    ) -> None:
        self.connector = connector
        self.mapping = mapping
        self.auto_signals = auto_signals
        self.rebirth_interval_ns = int(rebirth_interval_s * 1e9)
        self.bound: dict[str, BoundSignal] = {}
        for b in bound:
            group, edge_node, device, metric = parse_source(b.address)
            self.bound[f"{node_address(group, edge_node, device)}:{metric}"] = b
        self.bound_refs = {b.ref: address for address, b in self.bound.items()}
        self.signals: dict[SignalRef, Signal] = {}
        self.owners: dict[SignalRef, str] = {}
        self.nodes: dict[NodeKey, _Node] = {}
        self._pending: dict[tuple[SignalRef, Provenance], _Column] = {}
        self.pending_values = 0
        """Scalar values waiting for :meth:`take_scalars`."""

    # -- public -------------------------------------------------------------------------

    def receive(self, topic: str, payload: bytes, received_ns: int) -> Outcome:
        """Take one message; return what to declare, store, dead-letter and publish."""
        out = Outcome()
        if topic.startswith(f"{NAMESPACE}/STATE/"):
            return out  # host applications' STATE: not data
        try:
            where = parse_topic(topic)
        except ValueError as err:
            out.letters.append(self._letter(topic, str(err), payload, received_ns, "bad_topic"))
            return out
        if where.message_type in (MessageType.NCMD, MessageType.DCMD):
            return out  # commands to edge nodes (ours or another host's): not data
        node = self.nodes.get(where.node)
        if node is None:
            node = self.nodes[where.node] = _Node(where.group, where.edge_node)
        node.counts["messages"] += 1
        device = node.devices.get(where.device)
        try:
            decoded = decode_payload(
                payload, _UNBORN.datatype_of if device is None else device.datatype_of
            )
        except PayloadRejected as err:
            message = _Message(node, where, Payload(), payload, received_ns, out)
            self._reject(message, str(err), err.category)
            return out
        handler = {
            MessageType.NBIRTH: self._nbirth,
            MessageType.DBIRTH: self._dbirth,
            MessageType.NDATA: self._data,
            MessageType.DDATA: self._data,
            MessageType.NDEATH: self._ndeath,
            MessageType.DDEATH: self._ddeath,
        }[where.message_type]
        handler(_Message(node, where, decoded, payload, received_ns, out))
        return out

    def take_scalars(self) -> list[ScalarBatch]:
        """The scalar values received since the last call, one batch per signal."""
        pending, self._pending = self._pending, {}
        self.pending_values = 0
        return [column.batch(ref, provenance) for (ref, provenance), column in pending.items()]

    def _scalar(
        self, ref: SignalRef, provenance: Provenance, ts: int, value: float | None, at_ns: int
    ) -> None:
        column = self._pending.get((ref, provenance))
        if column is None:
            column = self._pending[(ref, provenance)] = _Column()
        column.add(ts, value, at_ns)
        self.pending_values += 1

    def session_started(self) -> None:
        """The host (re)connected: what it knew may be stale until each node is born again."""
        for node in self.nodes.values():
            if node.state == "online":
                node.state = "awaiting_birth"
            for device in node.devices.values():
                device.online = False
            for ref in node.refs():
                node.gap_pending.setdefault(
                    ref, ("the host's connection to the broker was lost", None)
                )

    def refuse(self, asset: str, signals: Sequence[Signal], reason: str, out: Outcome) -> None:
        """Signals of ``asset`` could not be created: their values become dead letters."""
        refs = {SignalRef(asset, s.name) for s in signals}
        for ref in refs:
            self.signals.pop(ref, None)
        for node in self.nodes.values():
            for device in node.devices.values():
                for binding in device.by_name.values():
                    if binding.ref in refs:
                        binding.refusal = f"signal {binding.ref} could not be created: {reason}"
        kept: list[Record] = []
        for key in [k for k in self._pending if k[0] in refs]:
            column = self._pending.pop(key)
            self.pending_values -= len(column.ts)
            out.records.append(column.batch(*key))
        for record in out.records:
            if record.signal in refs:
                out.letters.append(
                    DeadLetter(
                        self.connector,
                        record.provenance.address,
                        f"signal {record.signal} could not be created: {reason}",
                        _describe(record),
                        detail={"category": "signal_refused", "signal": record.signal.path},
                    )
                )
            else:
                kept.append(record)
        out.records = kept

    def details(self) -> dict[str, Any]:
        """Per edge node: online or offline, devices, counters and the last error."""
        return {
            node.address: node.details()
            for node in sorted(self.nodes.values(), key=lambda n: n.address)
        }

    # -- births ---------------------------------------------------------------------------

    def _nbirth(self, m: _Message) -> None:
        node = m.node
        node.bd_seq = _bd_seq(m.payload)
        if node.bd_seq is None:
            self._error(node, f"{m.topic}: NBIRTH without a bdSeq metric", m.received_ns)
        node.seq = _seq(m.payload)
        if m.payload.seq is not None and node.seq is None:
            self._error(node, f"{m.topic}: seq {m.payload.seq} is outside 0..255", m.received_ns)
        node.state = "online"
        node.rebirth_at_ns = None
        node.last_birth_ns = m.received_ns
        node.counts["births"] += 1
        for device in node.devices.values():
            device.online = device.died = False  # devices are born again after their node
        self._birth(m)

    def _dbirth(self, m: _Message) -> None:
        if m.node.state != "online":
            self._unresolved(m, "before the edge node's NBIRTH")
            return
        self._sequence(m)
        m.node.counts["births"] += 1
        self._birth(m)

    def _birth(self, m: _Message) -> None:
        device = _Device(online=True)
        for metric in m.payload.metrics:
            if metric.name is None:
                self._reject(m, f"birth metric {metric.label} has no name", "bad_birth")
                continue
            binding = self._bind(m.where, metric, m.out)
            device.by_name[metric.name] = binding
            if metric.alias is None:
                continue
            other = device.by_alias.get(metric.alias)
            if other is not None:
                self._reject(
                    m,
                    f"alias {metric.alias} names both {other.metric!r} and {metric.name!r}: "
                    f"data by that alias resolves to {other.metric!r}",
                    "bad_birth",
                )
                continue
            device.by_alias[metric.alias] = binding
        m.node.devices[m.where.device] = device
        self._values(m, device)

    def _bind(self, where: SparkplugTopic, metric: Metric, out: Outcome) -> _Binding:
        name = metric.name or ""
        address = f"{node_address(where.group, where.edge_node, where.device)}:{name}"
        datatype = metric.datatype or DataType.UNKNOWN
        binding = _Binding(name, datatype, address, event=datatype in _EVENTS)
        if name == "bdSeq" or name.startswith(_CONTROL_PREFIXES):
            binding.control = True
            return binding
        if metric.datatype is None:
            binding.refusal = f"the birth gives metric {name!r} no data type"
            return binding
        if datatype not in _DTYPES and datatype not in _EVENTS:
            binding.refusal = (
                f"metric {name!r} is a {datatype.name}: values of that type are not stored"
            )
            return binding
        kind = SignalKind.EVENT if binding.event else SignalKind.SCALAR
        bound = self.bound.get(address)
        if bound is not None:
            binding.ref = bound.ref
            if bound.definition.kind != kind:
                binding.refusal = (
                    f"signal {bound.ref} is a {bound.definition.kind} signal; metric {name!r} "
                    f"({datatype.name}) needs a {kind} signal"
                )
            return binding
        if not self.auto_signals:
            binding.refusal = (
                f"metric {address!r} is bound to no signal and auto_signals is off: bind a "
                f"signal to it with source {address!r}"
            )
            return binding
        try:
            asset = self.mapping.asset_of(where.group, where.edge_node, where.device)
        except ValueError as err:
            binding.refusal = f"no asset path for {address!r}: {err}"
            return binding
        ref = SignalRef(asset, signal_name_of(name))
        owner = self.owners.get(ref) or self.bound_refs.get(ref)
        if owner is not None and owner != address:
            binding.refusal = (
                f"metric {address!r} would be signal {ref}, which {owner!r} feeds already: "
                "bind one of them to a signal of its own"
            )
            return binding
        self.owners[ref] = address
        binding.ref = ref
        definition = _definition(ref.name, kind, datatype, metric, address, self.connector)
        if self.signals.get(ref) != definition:
            self.signals[ref] = definition
            out.declare.setdefault(asset, []).append(definition)
        return binding

    # -- data -------------------------------------------------------------------------

    def _data(self, m: _Message) -> None:
        node = m.node
        if node.state != "online":
            self._unresolved(
                m,
                "after the edge node's NDEATH"
                if node.state == "offline"
                else "before the edge node's NBIRTH",
            )
            return
        self._sequence(m)
        device = node.devices.get(m.where.device)
        if device is None or not device.online:
            died = device is not None and device.died
            self._unresolved(
                m, "after the device's DDEATH" if died else "before the device's DBIRTH"
            )
            return
        self._values(m, device)

    def _values(self, m: _Message, device: _Device) -> None:
        node, out = m.node, m.out
        rebirth = False
        for metric in m.payload.metrics:
            binding = device.find(metric)
            if binding is None:
                where = node_address(m.where.group, m.where.edge_node, m.where.device)
                self._reject(
                    m,
                    f"metric {metric.label} is not in the birth of {where}: rebirth requested",
                    "unknown_metric",
                )
                rebirth = True
                continue
            if binding.control:
                continue
            if metric.is_transient:
                node.counts["transient_skipped"] += 1
                continue
            reason = binding.refusal or metric.problem
            if reason is not None or binding.ref is None:
                self._reject(
                    m,
                    f"metric {binding.metric!r}: {reason}",
                    "unsupported",
                    None if binding.ref is None else binding.ref.path,
                    _metric_text(metric),
                )
                continue
            ref = binding.ref
            ts = _timestamp_ns(metric, m.payload, m.received_ns)
            provenance = binding.provenance_of(self.connector, metric.is_historical)
            self._gap(node, ref, ts, provenance, out)
            node.last_ts[ref] = max(ts, node.last_ts.get(ref, ts))
            if binding.event:
                out.records.append(_event(ref, ts, metric.value, provenance))
                continue
            self._scalar(ref, provenance, ts, _number(metric.value), m.received_ns)
        if rebirth:
            self._request_rebirth(m)

    def _gap(
        self, node: _Node, ref: SignalRef, ts: int, provenance: Provenance, out: Outcome
    ) -> None:
        pending = node.gap_pending.pop(ref, None)
        if pending is None:
            return
        cause, start = pending
        begin = node.last_ts.get(ref) if start is None else start
        if begin is None or ts <= begin:
            return
        seconds = (ts - begin) / 1e9
        out.records.append(
            EventRecord(
                ref,
                begin + 1,
                "gap",
                provenance,
                message=f"no values for {seconds:.1f} s: {cause}",
                severity="warning",
                attributes={
                    "from_ns": begin,
                    "to_ns": ts,
                    "cause": cause,
                    "seconds": round(seconds, 3),
                },
            )
        )

    def _sequence(self, m: _Message) -> None:
        node = m.node
        seq = _seq(m.payload)
        expected = None if node.seq is None else (node.seq + 1) % 256
        if seq is not None and (expected is None or seq == expected):
            node.seq = seq
            return
        node.counts["seq_gaps"] += 1
        if seq is None:
            cause = f"{m.topic}: seq {m.payload.seq} is missing or outside 0..255"
        else:
            lost = (seq - expected) % 256 if expected is not None else "?"
            cause = f"sequence gap on {m.topic}: expected seq {expected}, got {seq} ({lost} lost)"
        node.seq = seq
        self._error(node, cause, m.received_ns)
        for ref in node.refs():
            node.gap_pending.setdefault(ref, (cause, None))
        self._request_rebirth(m)

    # -- deaths -------------------------------------------------------------------------

    def _ndeath(self, m: _Message) -> None:
        node = m.node
        bd_seq = _bd_seq(m.payload)
        if node.state == "online" and None not in (bd_seq, node.bd_seq) and bd_seq != node.bd_seq:
            self._reject(
                m,
                f"NDEATH with bdSeq {bd_seq} is not of the current session (NBIRTH bdSeq "
                f"{node.bd_seq}): an earlier connection's will, the node stays online",
                "stale_death",
            )
            return
        node.state = "offline"
        node.last_death_ns = m.received_ns
        node.counts["deaths"] += 1
        for device in node.devices.values():
            self._offline(m, device, "the edge node went offline (NDEATH)")

    def _ddeath(self, m: _Message) -> None:
        device = m.node.devices.get(m.where.device)
        if m.node.state != "online" or device is None:
            self._unresolved(m, "of a device never born")
            return
        self._sequence(m)
        self._offline(m, device, f"device {m.where.device!r} went offline (DDEATH)")
        device.died = True

    def _offline(self, m: _Message, device: _Device, cause: str) -> None:
        was_online = device.online
        device.online = False
        for binding in device.by_name.values():
            ref = binding.ref
            if ref is None or binding.refusal:
                continue
            m.node.gap_pending.setdefault(ref, (cause, m.received_ns))
            last = m.node.last_ts.get(ref)
            if was_online and not binding.event and (last is None or m.received_ns > last):
                provenance = binding.provenance_of(self.connector, historical=False)
                self._scalar(ref, provenance, m.received_ns, None, m.received_ns)

    # -- helpers -------------------------------------------------------------------------

    def _unresolved(self, m: _Message, why: str) -> None:
        self._reject(
            m,
            f"{m.where.message_type} {why}: its metrics cannot be resolved; rebirth requested",
            "unresolved",
        )
        self._request_rebirth(m)

    def _request_rebirth(self, m: _Message) -> None:
        node, last = m.node, m.node.rebirth_at_ns
        if last is not None and m.received_ns - last < self.rebirth_interval_ns:
            return
        node.rebirth_at_ns = m.received_ns
        node.counts["rebirths_requested"] += 1
        m.out.commands.append(
            (
                command_topic(node.group, node.edge_node),
                rebirth_request(m.received_ns // _NS_PER_MS),
            )
        )

    def _error(self, node: _Node, reason: str, at_ns: int) -> None:
        node.last_error = reason
        node.last_error_ns = at_ns

    def _reject(
        self,
        m: _Message,
        reason: str,
        category: str,
        signal: str | None = None,
        payload: bytes | str | None = None,
    ) -> None:
        """A dead letter of the message (or of one of its metrics: ``payload`` names it)."""
        m.node.counts["dead_letters"] += 1
        self._error(m.node, reason, m.received_ns)
        letter = self._letter(
            m.topic, reason, m.raw if payload is None else payload, m.received_ns, category, signal
        )
        m.out.letters.append(letter)

    def _letter(
        self,
        location: str,
        reason: str,
        payload: bytes | str,
        received_ns: int,
        category: str,
        signal: str | None = None,
    ) -> DeadLetter:
        detail: dict[str, Any] = {"category": category}
        if signal is not None:
            detail["signal"] = signal
        return DeadLetter(self.connector, location, reason, payload, received_ns, detail)


def _bd_seq(payload: Payload) -> int | None:
    return next(
        (m.value for m in payload.metrics if m.name == "bdSeq" and isinstance(m.value, int)),
        None,
    )


def _seq(payload: Payload) -> int | None:
    seq = payload.seq
    return seq if seq is not None and 0 <= seq <= 255 else None


def _timestamp_ns(metric: Metric, payload: Payload, received_ns: int) -> int:
    ms = metric.timestamp_ms if metric.timestamp_ms is not None else payload.timestamp_ms
    return received_ns if ms is None else ms * _NS_PER_MS


def _number(value: MetricValue) -> float | None:
    if isinstance(value, float | int):  # bool is an int
        return float(value)
    if isinstance(value, datetime):
        return float(round(value.timestamp() * 1000))
    return None


def _jsonable(value: MetricValue) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _event(ref: SignalRef, ts: int, value: MetricValue, provenance: Provenance) -> EventRecord:
    if isinstance(value, tuple):
        attributes: dict[str, Any] = {"values": _jsonable(value)}
        message = f"{len(value)} values"
    else:
        attributes = {"value": _jsonable(value)}
        message = "" if value is None else str(value)
    return EventRecord(
        ref,
        ts,
        "value_change",
        provenance,
        message=message,
        attributes=attributes,
        quality=Quality.BAD if value is None else Quality.GOOD,
    )


def _definition(
    name: str,
    kind: SignalKind,
    datatype: DataType,
    metric: Metric,
    address: str,
    connector: str,
) -> Signal:
    description = f"Sparkplug B metric {address} ({datatype.name})"
    unit = ""
    if datatype == DataType.DATETIME:
        unit, description = "ms", description + ", milliseconds since 1970"
    declared = metric.properties.get("engUnit", metric.properties.get("engUnits"))
    if isinstance(declared, str) and declared and kind == SignalKind.SCALAR:
        try:
            unit = validate_unit(declared)
        except ValueError:
            description += f", unit {declared!r} (not a unit shopfloor knows)"
    if datatype == DataType.UINT64:
        description += ", stored as float64 (exact up to 2**53)"
    return Signal(
        name=name,
        kind=kind,
        unit=unit,
        dtype=_DTYPES.get(datatype, "float64"),
        description=description,
        connector=connector,
        source=address,
        allow_nan=datatype in (DataType.FLOAT, DataType.DOUBLE),
    )


def _metric_text(metric: Metric) -> str:
    return f"{metric.label} = {metric.value!r} ({metric.datatype.name if metric.datatype else '?'})"


def _describe(record: Record) -> str:
    if isinstance(record, ScalarBatch):
        return f"{len(record)} values: {record.values[:8].tolist()}"
    if isinstance(record, EventRecord):
        return f"{record.kind}: {record.message}"
    return type(record).__name__
