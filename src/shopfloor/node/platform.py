"""A running shopfloor node: store, bus, connectors, pipelines and API in one process.

Started by ``shopfloor run``; owns the project's DuckDB file for as long as it runs and
publishes its API address in the project's lock file, so other processes use the API.
Components start in data-flow order (store, bus and store sink, API, then producers) and
stop in reverse, so that what is in flight when it stops is written before the store
closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any, Protocol

import uvicorn

from shopfloor.api.app import create_app
from shopfloor.bus import MemoryBus, StoreSink
from shopfloor.config import Project
from shopfloor.errors import ConfigError, StoreUnavailable
from shopfloor.model import now_ns
from shopfloor.node.access import register_project_signals
from shopfloor.node.lock import PlatformLock, read_lock, remove_lock, write_lock
from shopfloor.store import DuckDBStore

__all__ = ["Platform", "Service"]

log = logging.getLogger(__name__)


class Service(Protocol):
    """A long-running part of the platform (the connector engine, a pipeline runner)."""

    name: str

    async def start(self) -> None:
        """Start; return once running."""

    async def stop(self) -> None:
        """Stop; return once everything in flight is handed on."""

    def health(self) -> dict[str, Any]:
        """A JSON-able health summary."""


class Platform:
    """The platform of one project.

    Parameters
    ----------
    project
        The loaded project.
    api
        Serve the HTTP API (needed for other processes to reach the store).
    api_port
        Override the project's API port (0 picks a free one).
    services
        Factories of further services, called with (platform) once store and bus run.
    retention_interval_s
        How often retention is applied.
    """

    def __init__(
        self,
        project: Project,
        *,
        api: bool = True,
        api_port: int | None = None,
        services: list[Any] | None = None,
        retention_interval_s: float = 3600.0,
    ) -> None:
        self.project = project
        self.config = project.config
        self.store = DuckDBStore(project.store_path, self.config.store)
        self.bus = MemoryBus(default_maxsize=self.config.bus.queue_size)
        self.sink = StoreSink(
            self.bus,
            self.store,
            maxsize=self.config.bus.queue_size,
            batch_size=self.config.bus.store_batch_size,
            batch_wait_s=self.config.bus.store_batch_wait_s,
            retry=self.config.bus.store_retry,
        )
        self._api_enabled = api and self.config.api.enabled
        self._api_port = self.config.api.port if api_port is None else api_port
        self._service_factories = list(services or [])
        self.services: list[Service] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._server: uvicorn.Server | None = None
        self.api_url: str | None = None
        self._retention_interval_s = retention_interval_s
        self._started_at = 0.0
        self._stopped = asyncio.Event()

    async def status(self) -> dict[str, Any]:
        """Health of every part, for ``shopfloor status`` and the API."""
        return {
            "platform": {
                "pid": os.getpid(),
                "uptime_s": round(time.monotonic() - self._started_at, 1),
                "api_url": self.api_url,
                "project": self.config.project.name,
            },
            "bus": {"published": self.bus.published, "store_queue": self.sink.pending},
            "store_sink": {
                "batches": self.sink.stats.batches,
                "records": self.sink.stats.records,
                "written": self.sink.stats.report.written,
                "duplicates": self.sink.stats.report.duplicates,
                "rejected": self.sink.stats.report.rejected,
                "failures": self.sink.stats.failures,
                "last_error": self.sink.stats.last_error,
            },
            "services": {s.name: s.health() for s in self.services},
        }

    async def start(self) -> None:
        """Start everything; ``ConfigError`` when another platform already runs here."""
        existing = read_lock(self.project.state_dir)
        if existing is not None:
            raise ConfigError(
                f"the platform of {self.project.root} already runs (pid {existing.pid}, API "
                f"{existing.api_url or 'off'}); stop it first"
            )
        self._started_at = time.monotonic()
        await self.store.open()
        try:
            n = await register_project_signals(self.store, self.project)
            await self.sink.subscribe()
            self._tasks.append(asyncio.create_task(self.sink.run(), name="store-sink"))
            if self._api_enabled:
                await self._start_api()
            write_lock(
                self.project.state_dir,
                PlatformLock(os.getpid(), self.api_url, now_ns(), str(self.project.root)),
            )
            for factory in self._service_factories:
                service: Service = factory(self)
                await service.start()
                self.services.append(service)
            self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
        except BaseException:
            await self.stop()
            raise
        log.info(
            "platform.started project=%s signals=%d api=%s",
            self.config.project.name,
            n,
            self.api_url,
        )

    async def _start_api(self) -> None:
        app = create_app(self.store, status=self.status)
        config = uvicorn.Config(
            app,
            host=self.config.api.host,
            port=self._api_port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        task = asyncio.create_task(server.serve(), name="api")
        self._tasks.append(task)
        deadline = time.monotonic() + 10
        while not server.started:
            if task.done():
                await task  # re-raises the start failure
                raise StoreUnavailable(
                    f"the API could not listen on {self.config.api.host}:{self._api_port} "
                    "(port in use?)"
                )
            if time.monotonic() > deadline:
                raise StoreUnavailable("the API did not start within 10 s")
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.api_url = f"http://{self.config.api.host}:{port}"

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.store.apply_retention()
            except StoreUnavailable:
                return
            except Exception:  # keep the platform running; the next round retries
                log.exception("platform.retention_failed")
            await asyncio.sleep(self._retention_interval_s)

    async def stop(self, drain_timeout_s: float = 30.0) -> None:
        """Stop producers, drain the bus into the store, stop the API, close the store."""
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("platform.service_stop_failed service=%s", service.name)
        self.services.clear()
        self.sink.stop()
        sink_task = next((t for t in self._tasks if t.get_name() == "store-sink"), None)
        if sink_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(sink_task), drain_timeout_s)
            except TimeoutError:
                log.error("platform.drain_timeout pending=%d", self.sink.pending)
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            if not task.done() and task.get_name() != "api":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.store.close()
        remove_lock(self.project.state_dir, os.getpid())
        self._stopped.set()
        log.info("platform.stopped")

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
