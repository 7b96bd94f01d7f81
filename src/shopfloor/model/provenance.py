"""Where a record came from: the connector and the address at the source.

Kept apart from :mod:`shopfloor.model.records` (numpy arrays) so that the store's catalog,
which maps provenances to ids, is read without importing numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Provenance"]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a record came from.

    Parameters
    ----------
    connector
        Name of the connector (or ``ingest``, ``pipeline:<name>``) that produced it.
    address
        Address at the source: OPC UA node id, file path and column, topic.
    backfilled
        True when the record was recovered after an outage (e.g. by OPC UA HistoryRead).
    """

    connector: str
    address: str = ""
    backfilled: bool = False
