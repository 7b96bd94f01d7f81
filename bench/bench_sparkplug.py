"""Sparkplug B: how many NDATA messages per second the host application takes.

Same messages, same run: 20,000 NDATA payloads of 10 Double metrics each, sent by alias
with their own timestamps and consecutive sequence numbers. Ours: the host state
(:class:`~shopfloor.connectors.sparkplug.host.HostState`) decodes each, checks its
sequence number, resolves the aliases against the birth and keeps the values, handing them
over as one batch per signal every 100 messages (its ``flush_interval_ms`` at 1,000
messages/s). Baseline: the bare generated protobuf class parsing the same bytes and
reading every metric's alias and value, which is the least any Sparkplug consumer does.
"""

from __future__ import annotations

from bench.harness import Measurement, Section, best_of
from shopfloor.connectors.sparkplug import sparkplug_b_pb2 as pb
from shopfloor.connectors.sparkplug.codec import DataType, Metric, Payload, encode_payload
from shopfloor.connectors.sparkplug.host import HostState
from shopfloor.connectors.sparkplug.mapping import AssetMapping

N_MESSAGES = 20_000
N_METRICS = 10
T0_MS = 1_700_000_000_000


def _messages(n: int) -> tuple[bytes, list[bytes]]:
    birth = (
        Metric(name="bdSeq", datatype=DataType.INT64, value=0),
        *(
            Metric(name=f"Motor/m{i}", alias=i, datatype=DataType.DOUBLE, value=0.0)
            for i in range(N_METRICS)
        ),
    )
    nbirth = encode_payload(Payload(timestamp_ms=T0_MS, seq=0, metrics=birth))

    def double(name: str | None, alias: int | None) -> DataType:
        return DataType.DOUBLE

    data = [
        encode_payload(
            Payload(
                timestamp_ms=T0_MS + k,
                seq=(k + 1) % 256,
                metrics=tuple(
                    Metric(alias=i, value=float(k + i), timestamp_ms=T0_MS + k)
                    for i in range(N_METRICS)
                ),
            ),
            double,
        )
        for k in range(n)
    ]
    return nbirth, data


def _host(nbirth: bytes, data: list[bytes]) -> int:
    host = HostState("bench", AssetMapping("bench/plant/{group}/{edge_node}/main/{device}"))
    host.receive("spBv1.0/G/NBIRTH/N", nbirth, T0_MS * 1_000_000)
    values = 0
    for k, payload in enumerate(data):
        out = host.receive("spBv1.0/G/NDATA/N", payload, (T0_MS + k) * 1_000_000)
        assert not out.letters and not out.commands
        if k % 100 == 99:
            values += sum(len(b) for b in host.take_scalars())
    values += sum(len(b) for b in host.take_scalars())
    assert values == (len(data) + 1) * N_METRICS  # the birth carries values too
    return values


def _bare(data: list[bytes]) -> int:
    values = 0
    for payload in data:
        message = pb.Payload.FromString(payload)
        for metric in message.metrics:
            if metric.alias >= 0 and metric.double_value == metric.double_value:
                values += 1
    return values


def run(n_messages: int = N_MESSAGES, repeat: int = 3) -> Section:
    nbirth, data = _messages(n_messages)
    ours = best_of(lambda: _host(nbirth, data), repeat)
    bare = best_of(lambda: _bare(data), repeat)
    return Section(
        "Sparkplug B host: NDATA messages taken per second",
        __doc__.split("\n\n", 1)[1].replace("\n", " ").strip(),
        [
            Measurement(
                f"NDATA of {N_METRICS} metrics by alias: decoded, sequence-checked, resolved, "
                "batched",
                n_messages / ours,
                "messages/s",
                baseline=n_messages / bare,
                baseline_name="bare protobuf parse",
            )
        ],
        notes=[
            f"{n_messages * N_METRICS / ours:,.0f} values/s through the host state; the "
            "ratio is what a typed, checked host costs over parsing alone (no goal: an edge "
            "node sends a few messages per second, a plant a few thousand)",
        ],
    )
