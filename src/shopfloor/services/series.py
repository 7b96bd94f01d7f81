"""A scalar signal's values as columns fit to plot: at most a given number of buckets.

The store downsamples (min, max and mean per bucket), so a year of 1 s data comes back
as about ``points`` rows whatever the range; a short range with fewer values than
``points`` comes back as is. Times are UNIX seconds (float), what uPlot takes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shopfloor.errors import ConfigError
from shopfloor.model import SignalKind, SignalRef
from shopfloor.store import Store

__all__ = ["MAX_POINTS", "plot_series", "scalar_signals"]

MAX_POINTS = 5000


async def scalar_signals(store: Store) -> list[str]:
    """The paths of every scalar signal the store knows, sorted."""
    return sorted(i.ref.path for i in await store.signals() if i.kind == SignalKind.SCALAR)


async def plot_series(
    store: Store, ref: SignalRef, *, span_s: float | None, points: int = 1000
) -> dict[str, Any]:
    """``ref``'s last ``span_s`` seconds of data (all of it: ``None``) in ``points`` buckets.

    Returns
    -------
    dict
        ``signal``, ``unit``, ``every_s`` (bucket length, 0 for raw values), and the
        columns ``t`` (UNIX seconds), ``min``, ``max``, ``mean``.

    Raises
    ------
    ConfigError
        The signal is unknown or not a scalar, or ``points`` is out of 10..5000.
    """
    if not 10 <= points <= MAX_POINTS:
        raise ConfigError(f"points must be 10 to {MAX_POINTS}, got {points}")
    info = next((i for i in await store.signals() if i.ref == ref), None)
    if info is None or info.kind != SignalKind.SCALAR:
        what = "is not a scalar signal" if info else "is not in the store"
        raise ConfigError(f"signal {ref.path!r} {what}")
    stored = await store.time_range(ref)
    out: dict[str, Any] = {"signal": ref.path, "unit": info.definition.unit, "every_s": 0.0}
    empty: dict[str, list[float]] = {"t": [], "min": [], "max": [], "mean": []}
    if stored is None:
        return {**out, **empty}
    end = stored[1] + 1
    start = stored[0] if span_s is None else max(stored[0], end - round(span_s * 1e9))
    if await store.count(ref, start, end) <= points:
        table = await store.read_scalars(ref, start, end)
        values = table.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
        columns = {"min": values, "max": values, "mean": values}
    else:
        # buckets start at multiples of every_ns: one more may be cut at either end
        every_ns = max(1, math.ceil((end - start) / (points - 1)))
        out["every_s"] = every_ns / 1e9
        table = await store.read_scalars_downsampled(ref, start, end, every_ns)
        columns = {
            c: table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
            for c in ("min", "max", "mean")
        }
    t = table.column("ts").cast("int64").to_numpy() / 1e9
    return {
        **out,
        "t": t.tolist(),
        **{c: [v if math.isfinite(v) else None for v in a.tolist()] for c, a in columns.items()},
    }
