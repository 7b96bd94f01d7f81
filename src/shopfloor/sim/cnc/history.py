"""Bounded in-memory history for asyncua, compact and fast to trim.

asyncua's own ``HistoryDict`` keeps one ``DataValue`` per sample in a list and trims with
``list.pop(0)``; an hour of 10 Hz scalars or a minute of 25600-sample arrays is then
hundreds of megabytes and trimming is quadratic. :class:`BoundedHistory` keeps numeric
samples in numpy arrays (arrays as float64 blocks), trims by the newest timestamp (so it
works with ``time_scale`` > 1) and builds ``DataValue`` objects only when read.

The simulator keeps one instance across in-process restarts, so a client can backfill
across a server restart, and saves every value it publishes into it (not only changes, as
asyncua's history subscription would). Events are not historized.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
from asyncua import ua
from asyncua.server.history import HistoryStorageInterface

from shopfloor.model.timestamps import to_datetime

if TYPE_CHECKING:
    from asyncua.common.node import Node

__all__ = ["MAX_RESPONSE_SAMPLES", "BoundedHistory"]

MAX_RESPONSE_SAMPLES = 1_000_000
"""Array samples in one HistoryRead response (about 30 MB once decoded); more follow."""

_MAX_OPEN_CONTINUATIONS = 1000
"""Newest-first continuation points remembered (the oldest are forgotten first)."""

logger = logging.getLogger(__name__)

_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
_NUMERIC = frozenset(
    {
        ua.VariantType.Boolean,
        ua.VariantType.SByte,
        ua.VariantType.Byte,
        ua.VariantType.Int16,
        ua.VariantType.UInt16,
        ua.VariantType.Int32,
        ua.VariantType.UInt32,
        ua.VariantType.Float,
        ua.VariantType.Double,
    }
)
_INTEGER = frozenset(_NUMERIC - {ua.VariantType.Float, ua.VariantType.Double})


def _ns(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _ua_time(ns: int) -> ua.DateTime:
    return cast(ua.DateTime, to_datetime(ns))


def _unspecified(value: datetime | None) -> bool:
    if value is None:
        return True
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value <= _EPOCH_1601


@dataclass
class _Series:
    """Samples of one node in a growable ring: live rows are ``[lo, hi)``."""

    period_ns: int | None
    count: int
    lo: int = 0
    hi: int = 0
    ts: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(64, np.int64))
    server_ts: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(64, np.int64))
    status: npt.NDArray[np.uint32] = field(default_factory=lambda: np.empty(64, np.uint32))
    values: npt.NDArray[Any] | None = None
    vtype: ua.VariantType | None = None
    is_array: bool = False

    def __len__(self) -> int:
        return self.hi - self.lo

    def _make_room(self) -> None:
        cap = self.ts.shape[0]
        if self.hi < cap:
            return
        n = self.hi - self.lo
        new_cap = cap if self.lo >= cap // 2 else cap * 2
        for name in ("ts", "server_ts", "status", "values"):
            old = getattr(self, name)
            if old is None:
                continue
            new = np.empty(new_cap, dtype=old.dtype)
            new[:n] = old[self.lo : self.hi]
            setattr(self, name, new)
        self.lo, self.hi = 0, n

    def append(self, ts: int, server_ts: int, status: int, variant: ua.Variant) -> None:
        if self.hi > self.lo and ts <= self.ts[self.hi - 1]:
            if ts < self.ts[self.hi - 1]:
                logger.debug("history.out_of_order ts=%s dropped", ts)
                return
            self.hi -= 1  # same timestamp: the newer write replaces the older
        if self.values is None:
            self.vtype = variant.VariantType
            self.is_array = isinstance(variant.Value, list | tuple)
            numeric_scalar = self.vtype in _NUMERIC and not self.is_array
            dtype: Any = np.float64 if numeric_scalar else object
            self.values = np.empty(self.ts.shape[0], dtype=dtype)
        self._make_room()
        assert self.values is not None
        i = self.hi
        self.ts[i] = ts
        self.server_ts[i] = server_ts
        self.status[i] = status
        value = variant.Value
        if self.values.dtype == np.float64:
            self.values[i] = np.nan if value is None else float(value)
        elif self.is_array and self.vtype in _NUMERIC and value is not None:
            self.values[i] = np.asarray(value, dtype=np.float64)
        else:
            self.values[i] = value
        self.hi += 1
        self._trim()

    def _trim(self) -> None:
        newest = int(self.ts[self.hi - 1])
        lo = self.lo
        if self.period_ns:
            lo = self.lo + int(np.searchsorted(self.ts[self.lo : self.hi], newest - self.period_ns))
        if self.count:
            lo = max(lo, self.hi - self.count)
        if lo > self.lo and self.values is not None and self.values.dtype == object:
            self.values[self.lo : lo] = None  # release the memory of dropped arrays
        self.lo = lo

    def data_value(self, i: int) -> ua.DataValue:
        assert self.values is not None and self.vtype is not None
        status = ua.StatusCode(ua.UInt32(int(self.status[i])))
        raw = self.values[i]
        if status.is_bad() or raw is None or (self.values.dtype == np.float64 and np.isnan(raw)):
            variant = ua.Variant(None, ua.VariantType.Null)
        elif self.is_array:
            value = raw.tolist() if isinstance(raw, np.ndarray) else list(raw)
            if self.vtype in _INTEGER:
                value = [int(v) for v in value]
            variant = ua.Variant(value, self.vtype, is_array=True)
        elif self.vtype is ua.VariantType.Boolean:
            variant = ua.Variant(bool(raw), self.vtype)
        elif self.vtype in _INTEGER:
            variant = ua.Variant(int(raw), self.vtype)
        elif self.vtype in _NUMERIC:
            variant = ua.Variant(float(raw), self.vtype)
        else:
            variant = ua.Variant(raw, self.vtype)
        return ua.DataValue(
            Value=variant,
            StatusCode=status,
            SourceTimestamp=_ua_time(int(self.ts[i])),
            ServerTimestamp=_ua_time(int(self.server_ts[i])),
        )


class BoundedHistory(HistoryStorageInterface):
    """asyncua history storage bounded by a period and/or a count per node.

    Parameters
    ----------
    max_history_data_response_size
        Values per HistoryRead response; the rest comes with continuation points.
    """

    def __init__(self, max_history_data_response_size: int = 100_000) -> None:
        super().__init__(max_history_data_response_size)
        self.max_history_data_response_size = max_history_data_response_size
        self._series: dict[ua.NodeId, _Series] = {}
        # newest-first reads without a start that stopped at the limit: asyncua resumes
        # them with the continuation time as start and the original end, which alone
        # reads like a fresh oldest-first read; (node, continuation, end) tells them apart
        self._reverse_cont: dict[tuple[ua.NodeId, int | None, int | None], None] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._series.values())

    async def init(self) -> None:
        """Nothing to open."""

    async def new_historized_node(
        self, node_id: ua.NodeId, period: timedelta | None, count: int = 0
    ) -> None:
        """Start (or, after a server restart, continue) keeping history for a node."""
        period_ns = None if period is None else round(period.total_seconds() * 1e9)
        series = self._series.get(node_id)
        if series is None:
            self._series[node_id] = _Series(period_ns=period_ns, count=count)
        else:
            series.period_ns, series.count = period_ns, count

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        """Store one value; values without a source timestamp are skipped."""
        series = self._series.get(node_id)
        ts = _ns(datavalue.SourceTimestamp)
        if series is None or ts is None or datavalue.Value is None:
            return
        server_ts = _ns(datavalue.ServerTimestamp) or ts
        status = datavalue.StatusCode.value if datavalue.StatusCode is not None else 0
        series.append(ts, server_ts, status, datavalue.Value)

    async def read_node_history(
        self,
        node_id: ua.NodeId,
        start: datetime | None,
        end: datetime | None,
        nb_values: int,
    ) -> tuple[list[ua.DataValue], datetime | None]:
        """Values between ``start`` and ``end`` (reverse order when start > end or unset)."""
        series = self._series.get(node_id)
        if series is None or len(series) == 0:
            return [], None
        ts = series.ts[series.lo : series.hi]
        no_start, no_end = _unspecified(start), _unspecified(end)
        start_ns, end_ns = _ns(start), _ns(end)
        key_end = None if no_end else end_ns
        resumed = (node_id, start_ns, key_end)
        if not no_start and resumed in self._reverse_cont:
            # the next page of a newest-first read without a start: up to the continuation
            del self._reverse_cont[resumed]
            no_start, end_ns, no_end = True, start_ns, False
        if no_start and no_end:
            lo, hi, reverse = 0, ts.size, True
        elif no_start:
            assert end_ns is not None
            lo, hi, reverse = 0, int(np.searchsorted(ts, end_ns, side="right")), True
        elif no_end:
            assert start_ns is not None
            lo, hi, reverse = int(np.searchsorted(ts, start_ns, side="left")), ts.size, False
        else:
            assert start_ns is not None and end_ns is not None
            reverse = start_ns > end_ns
            low, high = (end_ns, start_ns) if reverse else (start_ns, end_ns)
            lo = int(np.searchsorted(ts, low, side="left"))
            hi = int(np.searchsorted(ts, high, side="right"))
        indices = range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)
        limit = self.max_history_data_response_size
        if series.is_array and hi > lo:
            # each array becomes a Python list (~30 bytes a sample) in the response:
            # bound a response by samples, the client follows continuation points
            samples = max(1, len(series.values[series.lo + hi - 1]))  # type: ignore[index]
            limit = min(limit, max(1, MAX_RESPONSE_SAMPLES // samples))
        if nb_values:
            limit = min(limit, nb_values)
        cont = None
        if len(indices) > limit:
            cont = to_datetime(int(ts[indices[limit]]))
            indices = indices[:limit]
            if no_start:
                self._reverse_cont[(node_id, _ns(cont), key_end)] = None
                while len(self._reverse_cont) > _MAX_OPEN_CONTINUATIONS:
                    del self._reverse_cont[next(iter(self._reverse_cont))]
        return [series.data_value(series.lo + i) for i in indices], cont

    async def new_historized_event(
        self,
        source_id: ua.NodeId,
        evtypes: list[Node],
        period: timedelta | None,
        count: int = 0,
    ) -> None:
        """Events are not historized by the simulator."""

    async def save_event(self, event: Any) -> None:
        """Events are not historized by the simulator."""

    async def read_event_history(
        self,
        source_id: ua.NodeId,
        start: datetime | None,
        end: datetime | None,
        nb_values: int,
        evfilter: Any,
    ) -> tuple[list[Any], datetime | None]:
        """Events are not historized by the simulator."""
        return [], None

    async def stop(self) -> None:
        """Keep the data: the simulator may start again."""
