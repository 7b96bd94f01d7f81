"""A running shopfloor node: store, bus, connectors, pipelines and API in one process.

Started by ``shopfloor run``; owns the project's store for as long as it runs and
publishes its API address in the project's lock file, so other processes use the API.
Components start in data-flow order (store, bus and store sink, API, then producers) and
stop in reverse, so that what is in flight when it stops is written before the store
closes. Before any producer starts it reads the last stored timestamp of every bound
signal (:attr:`Platform.resume`), from which connectors backfill after a restart.

The platform knows its store and bus only by their protocols (:class:`~shopfloor.store.Store`,
:class:`~shopfloor.bus.Bus`): :meth:`Platform.from_project` picks the backends from the
project's configuration (:mod:`shopfloor.node.backends`). The API is a service like any
other, built by the caller (the CLI hands in :func:`shopfloor.api.server.api_server_factory`),
so this layer does not import the API.

A failed store (full disk, I/O error) does not stop the platform: the store sink shows it
in :meth:`Platform.status` (``store.state == "failed"`` with the reason) and reopens the
store when it can; :meth:`Platform.status` never touches the store itself, so it answers
while the store is down. What the bus still holds when the platform stops with the store
failed is spilled to ``<state_dir>/store-spill`` and replayed into the bus at the next
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from shopfloor.bus import Bus
from shopfloor.config import Project
from shopfloor.connectors.journal import Journal
from shopfloor.errors import BusClosed, ConfigError, StoreUnavailable
from shopfloor.model import SignalRef, now_ns, topic_for
from shopfloor.model.codec import decode_records
from shopfloor.node.access import register_project_signals
from shopfloor.node.backends import create_bus, create_store
from shopfloor.node.lock import PlatformLock, read_lock, remove_lock, write_lock
from shopfloor.node.resume import bound_signals, read_resume_points
from shopfloor.node.sink import StoreSink
from shopfloor.store import Store

__all__ = ["ApiFactory", "ApiService", "Platform", "Service", "ServiceFactory", "StatusProvider"]

log = logging.getLogger(__name__)

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


class Service(Protocol):
    """A long-running part of the platform (the connector engine, a pipeline runner, the API)."""

    name: str

    async def start(self) -> None:
        """Start; return once running."""

    async def stop(self) -> None:
        """Stop; return once everything in flight is handed on."""

    def health(self) -> dict[str, Any]:
        """A JSON-able health summary."""


class ApiService(Service, Protocol):
    """A service that serves the platform's API; its address is published in the lock file."""

    @property
    def url(self) -> str | None:
        """Where it answers once :meth:`start` has returned (``None`` before)."""


ServiceFactory = Callable[["Platform"], Service]
ApiFactory = Callable[[Store, StatusProvider], ApiService]


class Platform:
    """The platform of one project.

    Parameters
    ----------
    project
        The loaded project.
    store, bus
        The backends (not opened or started yet; the platform does both, and closes them).
    api
        Builds the API service over ``(store, status)``; ``None`` runs without an API (then
        other processes cannot reach the store while the platform runs).
    services
        Factories of further services, called with the platform once store and bus run.
    retention_interval_s
        How often retention is applied.
    drain_timeout_s
        How long :meth:`stop` waits for the bus to drain into the store.
    reopen_interval_s
        How often a failed store is reopened.
    """

    def __init__(
        self,
        project: Project,
        store: Store,
        bus: Bus,
        *,
        api: ApiFactory | None = None,
        services: list[ServiceFactory] | None = None,
        retention_interval_s: float = 3600.0,
        drain_timeout_s: float = 30.0,
        reopen_interval_s: float = 5.0,
    ) -> None:
        self.project = project
        self.config = project.config
        self.store = store
        self.bus = bus
        self.spill: Journal | None = None  # opened by start()
        self.sink = StoreSink(
            self.bus,
            self.store,
            maxsize=self.config.bus.queue_size,
            max_bytes=self.config.bus.queue_bytes,
            batch_size=self.config.bus.store_batch_size,
            batch_bytes=self.config.store.write_bytes(self.config.bus.store_batch_bytes),
            batch_wait_s=self.config.bus.store_batch_wait_s,
            retry=self.config.bus.store_retry,
            reopen_interval_s=reopen_interval_s,
        )
        self._spill_task: asyncio.Task[None] | None = None
        self.spill_replayed = 0
        self._api_factory = api
        self.api: ApiService | None = None
        self._service_factories = list(services or [])
        self.services: list[Service] = []
        self._sink_task: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._retention_interval_s = retention_interval_s
        self._drain_timeout_s = drain_timeout_s
        self._started_at = 0.0
        self.resume: dict[SignalRef, int] = {}
        """Last stored timestamp per bound signal, read at start (connectors resume there)."""

    @classmethod
    def from_project(
        cls,
        project: Project,
        *,
        api: ApiFactory | None = None,
        services: list[ServiceFactory] | None = None,
        retention_interval_s: float = 3600.0,
        reopen_interval_s: float = 5.0,
    ) -> Platform:
        """The platform on the store and bus the project's configuration asks for."""
        return cls(
            project,
            create_store(project),
            create_bus(project.config.bus),
            api=api,
            services=services,
            retention_interval_s=retention_interval_s,
            reopen_interval_s=reopen_interval_s,
        )

    @property
    def api_url(self) -> str | None:
        """Where the API answers while the platform runs, else ``None``."""
        return None if self.api is None else self.api.url

    async def status(self) -> dict[str, Any]:
        """Health of every part, for ``shopfloor status`` and the API."""
        services = {s.name: s.health() for s in self.services}
        if self.api is not None:
            services = {self.api.name: self.api.health(), **services}
        return {
            "platform": {
                "pid": os.getpid(),
                "uptime_s": round(time.monotonic() - self._started_at, 1),
                "api_url": self.api_url,
                "project": self.config.project.name,
            },
            "bus": {"backend": self.config.bus.backend, "store_queue": self.sink.pending},
            "store": {
                **self.sink.health,
                "spill": {
                    "pending": 0 if self.spill is None else self.spill.pending,
                    "replayed": self.spill_replayed,
                },
            },
            "store_sink": {
                "state": self.sink.stats.state,
                "batches": self.sink.stats.batches,
                "records": self.sink.stats.records,
                "written": self.sink.stats.report.written,
                "duplicates": self.sink.stats.report.duplicates,
                "rejected": self.sink.stats.report.rejected,
                "failures": self.sink.stats.failures,
                "last_error": self.sink.stats.last_error,
            },
            "services": services,
        }

    async def start(self) -> None:
        """Start everything.

        The lock file (with the API's address) is written only once the API answers, so a
        process that finds the lock can use the API at once.

        Raises
        ------
        ConfigError
            When another platform already runs on this project.
        PortInUse
            When the API's port is taken.
        """
        existing = read_lock(self.project.state_dir)
        if existing is not None:
            raise ConfigError(
                f"the platform of {self.project.root} already runs (pid {existing.pid}, API "
                f"{existing.api_url or 'off'}); stop it first"
            )
        self._started_at = time.monotonic()
        await self.store.open()
        try:
            await self.bus.start()
            n = await register_project_signals(self.store, self.project)
            self.resume = await read_resume_points(self.store, bound_signals(self.project))
            await self.sink.subscribe()
            self._sink_task = asyncio.create_task(self.sink.run(), name="store-sink")
            self.spill = Journal(self.project.state_dir / "store-spill")
            self.sink.spill = self.spill
            if not self.spill.empty:
                self._spill_task = asyncio.create_task(
                    self._replay_spill(self.spill), name="spill-replay"
                )
            if self._api_factory is not None:
                api = self._api_factory(self.store, self.status)
                self.api = api
                await api.start()
            write_lock(
                self.project.state_dir,
                PlatformLock(os.getpid(), self.api_url, now_ns(), str(self.project.root)),
            )
            for factory in self._service_factories:
                service = factory(self)
                await service.start()
                self.services.append(service)
            self._retention_task = asyncio.create_task(self._retention_loop(), name="retention")
        except BaseException:
            await self.stop()
            raise
        log.info(
            "platform.started project=%s signals=%d api=%s",
            self.config.project.name,
            n,
            self.api_url,
        )

    async def _replay_spill(self, spill: Journal) -> None:
        """Publish what the last run spilled, oldest first, committing as the bus takes it."""
        log.info("platform.spill_replay pending=%d dir=%s", spill.pending, spill.directory)
        while not spill.empty:
            frames = await asyncio.to_thread(spill.read, 256)
            if not frames:
                break
            for payload, position in frames:
                try:
                    records = decode_records(payload)
                except ValueError as err:  # a frame we wrote ourselves: should not happen
                    log.error("platform.spill_unreadable dir=%s error=%s", spill.directory, err)
                    records = []
                try:
                    for record in records:
                        await self.bus.publish(topic_for(record.signal), record)
                except BusClosed:
                    return
                await asyncio.to_thread(spill.commit, position, 1)
                self.spill_replayed += 1
        log.info("platform.spill_replayed records=%d", self.spill_replayed)

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.store.apply_retention()
            except StoreUnavailable:
                return
            except Exception:  # keep the platform running; the next round retries
                log.exception("platform.retention_failed")
            await asyncio.sleep(self._retention_interval_s)

    async def stop(self) -> None:
        """Stop producers, drain the bus into the store, stop the API, close bus and store."""
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("platform.service_stop_failed service=%s", service.name)
        self.services.clear()
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._retention_task
            self._retention_task = None
        if self._spill_task is not None:  # what it has not published stays in the spill
            self._spill_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._spill_task
            self._spill_task = None
        await self._drain_sink()
        if self.api is not None:
            try:
                await self.api.stop()
            except Exception:
                log.exception("platform.service_stop_failed service=%s", self.api.name)
            self.api = None
        try:
            await self.bus.close()
        finally:
            try:
                await self.store.close()
            except Exception as err:  # a failed store fails its last checkpoint too
                log.error("platform.store_close_failed error=%s", err)
            remove_lock(self.project.state_dir, os.getpid())
        log.info("platform.stopped")

    async def _drain_sink(self) -> None:
        self.sink.stop()
        task, self._sink_task = self._sink_task, None
        if task is None:
            return
        drained = False
        try:
            await asyncio.wait_for(asyncio.shield(task), self._drain_timeout_s)
            drained = True
        except TimeoutError:
            log.error("platform.drain_timeout pending=%d", self.sink.pending)
        except Exception:
            log.exception("platform.store_sink_failed")
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if not drained:  # the store hangs: keep what is queued for the next start
            try:
                await self.sink.spill_pending()
            except Exception:
                log.exception("platform.spill_failed pending=%d", self.sink.pending)

    async def run(self, duration_s: float | None = None) -> None:
        """Start, run for ``duration_s`` (forever when ``None``), then stop."""
        await self.start()
        try:
            if duration_s is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(duration_s)
        finally:
            await self.stop()

    async def __aenter__(self) -> Platform:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
