"""The project's store, opened for one piece of work and closed again whatever happens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shopfloor.config import Project
from shopfloor.node import open_project_store
from shopfloor.store import Store

__all__ = ["project_store"]


@asynccontextmanager
async def project_store(project: Project, store: Store | None = None) -> AsyncIterator[Store]:
    """Open the store of ``project`` (through the running platform when there is one).

    Parameters
    ----------
    project
        The loaded project.
    store
        A store the caller already holds open (a platform in the same process): it is
        used as it is, and left open.

    Yields
    ------
    Store
        The opened store; it is closed when the block ends, also on errors and
        cancellation.

    Examples
    --------
    >>> async def count(project):  # doctest: +SKIP
    ...     async with project_store(project) as store:
    ...         return len(await store.signals())
    """
    if store is not None:
        yield store
        return
    opened = await open_project_store(project)
    try:
        yield opened
    finally:
        await opened.close()
