"""Where each connector resumes after a platform start: the last stored timestamp per signal.

The store is the only record of what was kept before a restart (clean or after a crash),
so the platform reads it once at start, before any connector runs, and hands each
connector the points of its own signals (:attr:`ConnectorContext.resume
<shopfloor.connectors.base.ConnectorContext.resume>`). A connector whose source keeps
history backfills from there; what history cannot cover it records as a ``gap`` event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shopfloor.config import Project
from shopfloor.model import SignalRef
from shopfloor.store import Store

__all__ = ["bound_signals", "read_resume_points"]

log = logging.getLogger(__name__)


def bound_signals(project: Project) -> list[SignalRef]:
    """The signals of ``project`` a connector reads (a connector and a source are set)."""
    return [
        ref for ref, signal in project.config.iter_signals() if signal.connector and signal.source
    ]


async def read_resume_points(store: Store, refs: Iterable[SignalRef]) -> dict[SignalRef, int]:
    """The last timestamp (UTC ns) ``store`` holds for each of ``refs`` that has data.

    Parameters
    ----------
    store
        An opened store that knows every signal of ``refs``.
    refs
        The signals to look up.

    Returns
    -------
    dict
        ``{ref: last_ts_ns}``; signals without stored data are left out (nothing to resume).

    Examples
    --------
    >>> import asyncio, tempfile
    >>> from pathlib import Path
    >>> from shopfloor.model import Signal
    >>> from shopfloor.store import DuckDBStore
    >>> cnc = "acme/plant1/machining/line1/cell1/cnc-01"
    >>> async def demo(folder: str) -> dict[SignalRef, int]:
    ...     store = DuckDBStore(Path(folder) / "store.duckdb")
    ...     await store.open()
    ...     try:
    ...         await store.register_signals(cnc, [Signal(name="speed")])
    ...         return await read_resume_points(store, [SignalRef(cnc, "speed")])
    ...     finally:
    ...         await store.close()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     asyncio.run(demo(folder))
    {}
    """
    points: dict[SignalRef, int] = {}
    for ref in refs:
        span = await store.time_range(ref)
        if span is not None:
            points[ref] = span[1]
    if points:
        log.info("platform.resume_points signals=%d", len(points))
    return points
