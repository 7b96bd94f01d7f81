"""The codec the simulated edge node (:mod:`shopfloor.sim.sparkplug`) encodes with.

The simulators sit below the connectors, so the edge node takes its payload encoding as
a :class:`~shopfloor.sim.sparkplug.PayloadCodec`; this is that codec, over
:mod:`.codec`.

Examples
--------
>>> from shopfloor.sim.sparkplug import WireMetric
>>> data = TahuCodec().encode(0, 1_700_000_000_000, [WireMetric("Node Control/Rebirth",
...                                                               None, 11, True)])
>>> TahuCodec().commands(data)
{'Node Control/Rebirth': True}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shopfloor.connectors.sparkplug.codec import (
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
)
from shopfloor.errors import PayloadRejected
from shopfloor.sim.sparkplug import WireMetric

__all__ = ["TahuCodec"]


class TahuCodec:
    """Sparkplug B payloads for the simulated edge node (a ``PayloadCodec``).

    Data messages leave the data type to the birth; the codec keeps each alias' type from
    the births it encoded to choose the value's field.
    """

    def __init__(self) -> None:
        self._types: dict[int, DataType] = {}

    def encode(self, seq: int | None, timestamp_ms: int, metrics: Sequence[WireMetric]) -> bytes:
        """Encode a payload."""
        for m in metrics:
            if m.alias is not None and m.datatype is not None:
                self._types[m.alias] = DataType(m.datatype)
        out = tuple(
            Metric(
                name=m.name,
                alias=m.alias,
                timestamp_ms=m.timestamp_ms,
                datatype=None if m.datatype is None else DataType(m.datatype),
                value=m.value,
                properties=dict(m.properties),
            )
            for m in metrics
        )
        types = self._types

        def datatype_of(name: str | None, alias: int | None) -> DataType | None:
            return None if alias is None else types.get(alias)

        return encode_payload(Payload(timestamp_ms=timestamp_ms, seq=seq, metrics=out), datatype_of)

    def commands(self, payload: bytes) -> dict[str, Any]:
        """The metrics of a command payload by name (``{}`` when it does not decode)."""
        try:
            decoded = decode_payload(payload)
        except PayloadRejected:
            return {}
        return {m.name: m.value for m in decoded.metrics if m.name is not None}
