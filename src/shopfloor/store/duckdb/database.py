"""The open DuckDB file: its connection, its threads and how it is opened.

DuckDB allows one writing process per file: the running platform owns it, and other
processes go through its API (see ``shopfloor.node.access``). A store whose folder or file
is not writable is opened read-only, so reading it works without a writer. Within the
process, one dedicated thread owns the writing connection, so writes are serialized
without locks; reads run on a small pool of cursor threads and never block the event loop.

``store.memory_limit`` is honoured by spilling: DuckDB's ``temp_directory`` is a folder
beside the file (in the project's ``.shopfloor/``), so large writes spill instead of
failing; the store sink keeps each write under a quarter of the limit
(:meth:`~shopfloor.store.config.StoreConfig.write_bytes`) and a checkpoint follows each
quarter's worth of commits, so committed waveform blocks do not pile up in memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from shopfloor.errors import StoreError, StoreReadOnly, StoreUnavailable
from shopfloor.store.config import StoreConfig
from shopfloor.store.duckdb.catalog import Catalog
from shopfloor.store.duckdb.failures import translate
from shopfloor.store.duckdb.schema import create_or_check

__all__ = ["Database", "writable"]

log = logging.getLogger(__name__)
T = TypeVar("T")

Connection = duckdb.DuckDBPyConnection


def writable(path: Path) -> bool:
    """True when the store at ``path`` can be written: its folder, and the file if it exists."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


class Database:
    """One DuckDB file, its writer thread, its reader threads and its catalog.

    Parameters
    ----------
    path
        The database file, or ``":memory:"``.
    config
        Store settings (memory limit, threads).
    read_only
        ``True`` to open read-only, ``False`` to require writing, ``None`` to decide from
        the permissions of the file and its folder.
    """

    def __init__(self, path: str, config: StoreConfig, read_only: bool | None = None) -> None:
        self.path = path
        self.config = config
        self.catalog = Catalog()
        self.read_only = False
        self._want_read_only = read_only
        self._con: Connection | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._con is not None

    def _not_open(self) -> StoreUnavailable:
        return StoreUnavailable(f"store {self.path} is not open")

    async def run_write(self, fn: Callable[[Connection], T], action: str = "write") -> T:
        """Run ``fn`` on the writer thread; DuckDB errors become :class:`StoreError`."""
        if self._writer is None or self._con is None:
            raise self._not_open()
        if self.read_only:
            raise StoreReadOnly(
                f"{action} refused: the store {self.path} is open read-only "
                "(its folder or file is not writable)"
            )
        con = self._con

        def call() -> T:
            try:
                return fn(con)
            except duckdb.Error as err:
                raise translate(err, self.path, action) from err

        return await asyncio.get_running_loop().run_in_executor(self._writer, call)

    async def run_read(self, fn: Callable[[Connection], T], action: str = "read") -> T:
        """Run ``fn`` on a reader thread with its own cursor."""
        if self._readers is None or self._con is None:
            raise self._not_open()
        con = self._con

        def call() -> T:
            cursor = getattr(self._local, "cursor", None)
            if cursor is None:
                cursor = con.cursor()
                self._local.cursor = cursor
            try:
                return fn(cursor)
            except duckdb.Error as err:
                raise translate(err, self.path, action) from err

        return await asyncio.get_running_loop().run_in_executor(self._readers, call)

    async def open(self) -> None:
        """Open the file (creating it and its folder when writable), create or check the schema."""
        if self._con is not None:
            return
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="store-reader")
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._open_sync)
        except BaseException:
            self._writer.shutdown(wait=False)
            self._readers.shutdown(wait=False)
            self._writer = self._readers = None
            raise
        log.info(
            "store.opened path=%s signals=%d read_only=%s",
            self.path,
            len(self.catalog.signals),
            self.read_only,
        )

    def _settings(self, read_only: bool) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if self.config.memory_limit:
            settings["memory_limit"] = self.config.memory_limit
            # committed rows stay in memory until a checkpoint writes them to the file:
            # checkpoint before they fill the limit (DuckDB's default is every 16 MiB of WAL)
            settings["checkpoint_threshold"] = f"{self.config.write_bytes(16 * 2**20)}B"
        if self.config.threads:
            settings["threads"] = self.config.threads
        if self.path != ":memory:" and not read_only:
            spill = Path(self.path).with_name(Path(self.path).name + ".tmp")
            settings["temp_directory"] = str(spill)
            settings["preserve_insertion_order"] = False
            # no vacuum at checkpoints: it merges the small row groups that appends leave
            # into large ones, reading every waveform BLOB of them back into memory (RSS
            # grew with the data stored, 4 GB after 2 GB of blocks); freed blocks are
            # reused all the same, and deleted rows still leave the file
            settings["max_vacuum_tasks"] = 0
        return settings

    def _open_sync(self) -> None:
        read_only = bool(self._want_read_only)
        if self.path != ":memory:":
            path = Path(self.path)
            if self._want_read_only is None:
                read_only = not writable(path)
            if read_only and not path.exists():
                raise StoreError(f"cannot open the store {self.path}: it does not exist")
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(self.path, read_only=read_only, config=self._settings(read_only))
        except duckdb.Error as err:
            raise translate(err, self.path, "open") from err
        try:
            create_or_check(con, self.path, read_only=read_only)
            self.catalog.load(con)
        except duckdb.Error as err:
            con.close()
            raise translate(err, self.path, "open") from err
        except BaseException:
            con.close()
            raise
        self.read_only = read_only
        self._con = con

    async def close(self) -> None:
        """Checkpoint and close; safe to call twice and under cancellation."""
        writer, readers, con = self._writer, self._readers, self._con
        if con is None or writer is None:
            return
        self._con = None
        self._writer = self._readers = None
        read_only = self.read_only

        def shut() -> None:
            try:
                if not read_only:
                    con.execute("CHECKPOINT")
            except duckdb.Error as err:
                log.error("store.checkpoint_failed path=%s error=%s", self.path, err)
            finally:
                con.close()

        try:
            if readers is not None:
                readers.shutdown(wait=True)
            await asyncio.shield(asyncio.get_running_loop().run_in_executor(writer, shut))
        finally:
            writer.shutdown(wait=True)
            log.info("store.closed path=%s", self.path)
