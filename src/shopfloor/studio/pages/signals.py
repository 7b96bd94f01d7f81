"""Signals: a scalar signal's recent values plotted with uPlot from a downsampled query.

The page holds the chart; the browser asks :func:`data` for the series as JSON
(min, max and mean per bucket, at most ``points`` buckets whatever the range).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shopfloor.errors import RequestInvalid
from shopfloor.model import SignalRef
from shopfloor.services.series import MAX_POINTS, plot_series, scalar_signals
from shopfloor.studio.app import render
from shopfloor.studio.auth import Viewer, context_of

__all__ = ["RANGES", "router"]

router = APIRouter()

RANGES: dict[str, float | None] = {
    "10min": 600.0,
    "1h": 3600.0,
    "24h": 86_400.0,
    "7d": 7 * 86_400.0,
    "all": None,
}
"""The ranges offered: the last so much of the stored data."""
SignalPath = Annotated[str, Query(min_length=3, max_length=600)]
Range = Annotated[str, Query(max_length=16)]


def _ref(signal: str) -> SignalRef:
    try:
        return SignalRef.parse(signal)
    except ValueError as err:
        raise RequestInvalid(f"signal {signal!r}: {err}") from err


def _span(range_: str) -> float | None:
    if range_ not in RANGES:
        raise RequestInvalid(f"range must be one of {', '.join(RANGES)}, got {range_!r}")
    return RANGES[range_]


@router.get("/signals", response_class=HTMLResponse)
async def signals(
    request: Request,
    session: Viewer,
    signal: Annotated[str | None, Query(max_length=600)] = None,
    range_: Annotated[str, Query(alias="range", max_length=16)] = "24h",
) -> HTMLResponse:
    """The scalar signals, and the chart of the one chosen."""
    _span(range_)
    known = await scalar_signals(context_of(request).store)
    chosen = signal if signal in known else (known[0] if known else None)
    if signal and chosen != signal:
        raise RequestInvalid(f"signal {signal!r} is not a scalar signal of the store")
    return render(
        request,
        "signals.html",
        session,
        page="signals",
        signals=known,
        chosen=chosen,
        range=range_,
        ranges=list(RANGES),
    )


@router.get("/signals/data")
async def data(
    request: Request,
    session: Viewer,
    signal: SignalPath,
    range_: Annotated[str, Query(alias="range", max_length=16)] = "24h",
    points: Annotated[int, Query(ge=10, le=MAX_POINTS)] = 1000,
) -> dict[str, Any]:
    """The chosen signal's series: ``t`` (UNIX s), ``min``, ``max``, ``mean``."""
    store = context_of(request).store
    return await plot_series(store, _ref(signal), span_s=_span(range_), points=points)
