"""Open a project's store the right way: through the running platform, or directly."""

from __future__ import annotations

import logging

from shopfloor.config import Project
from shopfloor.errors import StoreUnavailable
from shopfloor.node.lock import read_lock, read_token
from shopfloor.store import DuckDBStore, Store
from shopfloor.store.remote import RemoteStore

__all__ = ["open_project_store", "register_project_signals"]

log = logging.getLogger(__name__)


async def register_project_signals(store: Store, project: Project) -> int:
    """Make the store know every signal of the project; return how many."""
    count = 0
    for asset in project.config.assets:
        if asset.signals:
            count += len(await store.register_signals(asset.path, asset.signals))
    return count


async def open_project_store(project: Project) -> Store:
    """The store of ``project``, opened.

    When the platform runs (its lock names a live process with an API), this is a
    :class:`RemoteStore` on that API; otherwise the DuckDB file itself, with the
    project's signals registered.

    Raises
    ------
    StoreUnavailable
        When another process holds the file and offers no API.
    """
    lock = read_lock(project.state_dir)
    if lock is not None:
        if lock.api_url is None:
            raise StoreUnavailable(
                f"the platform (pid {lock.pid}) owns {project.store_path} and runs without "
                "its API; stop it or start it with the API"
            )
        remote = RemoteStore(lock.api_url, token=read_token(project.state_dir))
        try:
            await remote.open()
        except BaseException:
            await remote.close()
            raise
        log.info("store.remote url=%s pid=%d", lock.api_url, lock.pid)
        return remote
    store = DuckDBStore(project.store_path, project.config.store)
    await store.open()
    try:
        await register_project_signals(store, project)
    except BaseException:
        await store.close()
        raise
    return store
