"""Read what the store holds: a signal's values, the signal list, events, dead letters.

Every function takes an opened :class:`~shopfloor.store.Store` (see
:func:`shopfloor.services.store.project_store`) and returns plain, JSON-ready data:
times as ISO 8601 text, quality as ``good``/``uncertain``/``bad``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ConfigError
from shopfloor.model import (
    Quality,
    SignalKind,
    SignalRef,
    WaveformBlock,
    format_ns,
    now_ns,
    parse_duration_s,
    to_ns,
)
from shopfloor.services.options import DeadLetterOptions, EventOptions, QueryOptions, SignalOptions
from shopfloor.store import Store

__all__ = [
    "TimeRange",
    "list_dead_letters",
    "list_events",
    "list_signals",
    "parse_every",
    "parse_time_range",
    "quality_name",
    "query",
    "query_signal",
    "signal_ref",
    "waveform_rms",
]


RMS_BATCH = 256
"""Waveform blocks read at a time when downsampling their RMS."""


@dataclass(frozen=True)
class TimeRange:
    """A time range as given: either end may be open (``None``)."""

    start_ns: int | None = None
    end_ns: int | None = None


def parse_time_range(
    start: str | None, end: str | None, *, names: tuple[str, str] = ("--from", "--to")
) -> TimeRange:
    """Parse ``start`` and ``end`` (ISO 8601 or ``now-1h``); the end must come after.

    Raises
    ------
    ConfigError
        Naming the option (``names``) and its value.

    Examples
    --------
    >>> parse_time_range("2024-01-01", "2024-01-02").end_ns
    1704153600000000000
    """
    out: list[int | None] = []
    for value, name in ((start, names[0]), (end, names[1])):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(to_ns(value))
        except ValueError as err:
            raise ConfigError(f"{name} {value!r}: {err}") from err
    lo, hi = out
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigError(f"{names[1]} ({end}) must be after {names[0]} ({start})")
    return TimeRange(lo, hi)


def parse_every(every: str | None) -> int | None:
    """Bucket length of ``--every`` (``1s``, ``5min``) in nanoseconds.

    Raises
    ------
    ConfigError
        When it is not a duration or not longer than 0.
    """
    if every is None:
        return None
    try:
        every_ns = int(parse_duration_s(every) * 1e9)
    except ValueError as err:
        raise ConfigError(f"--every {every!r}: {err}") from err
    if every_ns <= 0:
        raise ConfigError(f"--every must be longer than 0, got {every!r}")
    return every_ns


def signal_ref(asset: str | None, signal: str) -> SignalRef:
    """The signal named by ``--asset`` and ``--signal`` (or a full path in ``signal``).

    Raises
    ------
    ConfigError
        When the path is not a valid asset/signal path.
    """
    try:
        if asset is None:
            return SignalRef.parse(signal)
        return SignalRef.checked(asset, signal)
    except ValueError as err:
        raise ConfigError(f"--asset/--signal: {err}") from err


def quality_name(code: int) -> str:
    """``good``, ``uncertain`` or ``bad`` for a stored quality byte.

    Examples
    --------
    >>> quality_name(0), quality_name(2)
    ('good', 'bad')
    """
    try:
        return Quality(code).name.lower()
    except ValueError:
        return str(code)


def waveform_rms(block: WaveformBlock) -> npt.NDArray[np.float64]:
    """Root mean square of each channel of ``block``: sqrt(mean(x²)) over its samples."""
    data = np.asarray(block.data, dtype=np.float64)
    return np.asarray(np.sqrt(np.mean(np.square(data), axis=0)), dtype=np.float64)


async def query(store: Store, o: QueryOptions) -> dict[str, Any]:
    """The values ``o`` asks for (``shopfloor query``): :func:`query_signal`.

    Raises
    ------
    ConfigError
        Naming the option that is wrong, or when the store has no such signal.
    """
    ref, span = signal_ref(o.asset, o.signal), parse_time_range(o.from_, o.to)
    every_ns = parse_every(o.every)
    return await query_signal(store, ref, span, every_ns=every_ns, every=o.every, limit=o.limit)


async def query_signal(
    store: Store,
    ref: SignalRef,
    span: TimeRange = TimeRange(),
    *,
    every_ns: int | None = None,
    every: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Values of ``ref`` in ``span``, as rows fit to print or send as JSON.

    Scalars (or min/max/mean per ``every_ns`` bucket), waveform blocks as per-channel
    RMS, events, or image summaries.

    ``every_ns`` on a waveform buckets the blocks' RMS (min/max/mean of each channel's
    RMS per bucket); on events and images it is refused.

    Raises
    ------
    ConfigError
        When the store has no such signal or ``every_ns`` does not apply to its kind.
    """
    infos = {i.ref: i for i in await store.signals()}
    info = infos.get(ref)
    if info is None:
        same = sorted(r.name for r in infos if r.asset == ref.asset)
        raise ConfigError(
            f"no signal {ref.path!r} in the store (signals of that asset: "
            f"{', '.join(same) or 'none'})"
        )
    if every_ns is not None and info.kind not in (SignalKind.SCALAR, SignalKind.WAVEFORM):
        raise ConfigError(
            f"--every {every or every_ns}: {ref.path!r} is a {info.kind} signal; only scalars "
            "(min/max/mean) and waveforms (their RMS) are downsampled"
        )
    stored = await store.time_range(ref)
    start = span.start_ns if span.start_ns is not None else (stored[0] if stored else 0)
    end = span.end_ns if span.end_ns is not None else (stored[1] + 1 if stored else now_ns())
    out: dict[str, Any] = {
        "signal": ref.path,
        "kind": str(info.kind),
        "unit": info.definition.unit,
        "from": format_ns(start),
        "to": format_ns(end),
    }
    if every_ns is not None:
        out["every"] = every
    if info.kind == SignalKind.SCALAR:
        out["rows"] = await _scalar_rows(store, ref, start, end, every_ns, limit)
    elif info.kind == SignalKind.WAVEFORM:
        if every_ns is not None:
            out["rows"] = (await _rms_buckets(store, ref, start, end, every_ns))[:limit]
            return out
        blocks = await store.read_waveforms(ref, start, end, limit=limit or 1000)
        out["rows"] = [
            {
                "ts": format_ns(b.t0_ns),
                "sample_rate_hz": b.sample_rate_hz,
                "n_samples": b.n_samples,
                "n_channels": b.n_channels,
                "rms": waveform_rms(b).round(6).tolist(),
            }
            for b in blocks
        ]
    elif info.kind == SignalKind.EVENT:
        events = await store.read_events(start, end, ref=ref, limit=limit or 1000)
        out["rows"] = [_event_row(e) for e in events]
    else:
        images = await store.read_images(ref, start, end, limit=limit or 1000)
        out["rows"] = [
            {
                "ts": format_ns(r.ts_ns),
                "format": r.format,
                "shape": list(r.shape),
                "bytes": len(r.data),
                "attributes": dict(r.attributes),
            }
            for r in images
        ]
    return out


async def _scalar_rows(
    store: Store, ref: SignalRef, start: int, end: int, every_ns: int | None, limit: int | None
) -> list[dict[str, Any]]:
    if every_ns is not None:
        table = await store.read_scalars_downsampled(ref, start, end, every_ns)
        if limit is not None:
            table = table.slice(0, limit)
        cols = ["min", "max", "mean", "count"]
    else:
        table = await store.read_scalars(ref, start, end, limit=limit)
        cols = ["value", "quality"]
    ts = table.column("ts").to_numpy().astype("datetime64[ns]").astype(np.int64)
    values = {c: table.column(c).to_pylist() for c in cols}
    if "quality" in values:
        values["quality"] = [quality_name(q) for q in values["quality"]]
    return [{"ts": format_ns(int(t)), **{c: values[c][i] for c in cols}} for i, t in enumerate(ts)]


async def _rms_buckets(
    store: Store, ref: SignalRef, start: int, end: int, every_ns: int
) -> list[dict[str, Any]]:
    """Min/max/mean of each channel's block RMS per bucket of ``every_ns`` from ``start``.

    Blocks are read :data:`RMS_BATCH` at a time, so memory holds one batch, not the range.
    """
    buckets: dict[int, list[npt.NDArray[np.float64]]] = {}
    cursor = start
    while cursor < end:
        blocks = await store.read_waveforms(ref, cursor, end, limit=RMS_BATCH)
        for block in blocks:
            key = start + (block.t0_ns - start) // every_ns * every_ns
            buckets.setdefault(key, []).append(waveform_rms(block))
        if len(blocks) < RMS_BATCH:
            break
        cursor = blocks[-1].t0_ns + 1
    rows = []
    for key in sorted(buckets):
        try:
            rms = np.vstack(buckets[key])
        except ValueError:  # blocks of one bucket with different channel counts
            rms = np.vstack([r[:1] for r in buckets[key]])
        rows.append(
            {
                "ts": format_ns(key),
                "rms_min": rms.min(axis=0).round(6).tolist(),
                "rms_max": rms.max(axis=0).round(6).tolist(),
                "rms_mean": rms.mean(axis=0).round(6).tolist(),
                "count": int(rms.shape[0]),
            }
        )
    return rows


def _event_row(e: Any) -> dict[str, Any]:
    return {
        "ts": format_ns(e.ts_ns),
        "signal": e.signal.path,
        "kind": e.kind,
        "severity": e.severity,
        "message": e.message,
        "attributes": dict(e.attributes),
    }


def _matches(path: str | None, asset: str | None, signal: str | None) -> bool:
    """Whether a signal path is under ``asset`` and named ``signal`` (either may be None)."""
    if asset is None and signal is None:
        return True
    if path is None:
        return False
    try:
        ref = SignalRef.parse(path)
    except ValueError:  # not a signal path: it is about no signal we could match
        return False
    if asset is not None and not (
        ref.asset == asset or ref.asset.startswith(asset.rstrip("/") + "/")
    ):
        return False
    return signal is None or signal in (ref.name, path)


async def list_signals(store: Store, o: SignalOptions) -> list[dict[str, Any]]:
    """Every signal the store knows (under ``o.asset``, named ``o.signal``), with its data span.

    ``o.asset`` matches the asset and every asset below it.
    """
    out = []
    for info in await store.signals():
        if not _matches(info.ref.path, o.asset, o.signal):
            continue
        span = await store.time_range(info.ref)
        out.append(
            {
                "signal": info.ref.path,
                "asset": info.ref.asset,
                "name": info.ref.name,
                "kind": str(info.kind),
                "unit": info.definition.unit,
                "count": await store.count(info.ref),
                "first": format_ns(span[0]) if span else None,
                "last": format_ns(span[1]) if span else None,
            }
        )
    return out


async def list_dead_letters(store: Store, o: DeadLetterOptions) -> dict[str, Any]:
    """Rejected input (received since ``o.since``, from ``o.source``), newest first.

    ``o.asset`` and ``o.signal`` keep the dead letters about a signal there (those
    rejected before a signal was known, like an unreadable CSV line, have none and drop
    out).

    Raises
    ------
    ConfigError
        When ``o.since`` is not a time.
    """
    since_ns = parse_time_range(o.since, None, names=("--since", "")).start_ns
    source, asset, signal, limit = o.source, o.asset, o.signal, o.limit
    total = await store.count_dead_letters(since_ns=since_ns, source=source)
    letters = await store.read_dead_letters(since_ns=since_ns, source=source, limit=max(total, 1))
    if asset is not None or signal is not None:
        letters = [d for d in letters if _matches(d.detail.get("signal"), asset, signal)]
        total = len(letters)
    letters = sorted(letters, key=lambda d: d.received_ns, reverse=True)[:limit]
    return {
        "total": total,
        "shown": len(letters),
        "dead_letters": [
            {
                "received": format_ns(d.received_ns),
                "source": d.source,
                "location": d.location,
                "reason": d.reason,
                "signal": d.detail.get("signal"),
                "payload": d.payload.decode("utf-8", "replace")
                if isinstance(d.payload, bytes)
                else d.payload,
            }
            for d in letters
        ],
    }


async def list_events(store: Store, o: EventOptions) -> dict[str, Any]:
    """Events (gaps, program changes, alarms) from ``o.from_`` to ``o.to``, newest first.

    ``o.asset`` matches the asset and every asset below it; ``o.signal`` is the name (or
    full path) of the signal the event belongs to; ``o.kind`` the kind of event.

    Raises
    ------
    ConfigError
        When ``o.from_`` or ``o.to`` is not a time, or ``o.to`` is not after ``o.from_``.
    """
    span, asset, signal, limit = parse_time_range(o.from_, o.to), o.asset, o.signal, o.limit
    start = span.start_ns if span.start_ns is not None else 0
    end = span.end_ns if span.end_ns is not None else now_ns() + 10**18
    events = await store.read_events(start, end, kind=o.kind)
    rows = [_event_row(e) for e in events if _matches(e.signal.path, asset, signal)]
    rows.reverse()
    return {"total": len(rows), "shown": min(len(rows), limit), "events": rows[:limit]}
