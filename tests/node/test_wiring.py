"""How the platform is assembled: protocols only, the API as a service, the lock after readiness."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import shopfloor.bus
import shopfloor.errors
from shopfloor.api.server import ApiServer, api_server_factory, listener_pid
from shopfloor.bus import Bus, BusConfig, MemoryBus, Subscription
from shopfloor.config import Project, load_project
from shopfloor.config.template import write_example_project
from shopfloor.errors import BusError, BusFull, ConfigError, PortInUse, ServiceError
from shopfloor.model import Provenance, Record, ScalarBatch, SignalRef, to_ns, topic_for
from shopfloor.node import Platform, create_bus, read_lock
from shopfloor.node.lock import read_token
from shopfloor.node.platform import StatusProvider
from shopfloor.store import DuckDBStore, Store

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    folder = tmp_path / "plant"
    write_example_project(folder)
    return load_project(folder)


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


class CountingBus:
    """A bus that is not a MemoryBus: the platform must work through the protocol alone."""

    def __init__(self) -> None:
        self.inner = MemoryBus()
        self.started = False
        self.closed = False

    async def start(self) -> None:
        self.started = True
        await self.inner.start()

    async def close(self) -> None:
        self.closed = True
        await self.inner.close()

    async def publish(self, topic: str, record: Record, *, timeout_s: float | None = None) -> None:
        await self.inner.publish(topic, record, timeout_s=timeout_s)

    async def subscribe(
        self, pattern: str, *, name: str, maxsize: int = 1024, max_bytes: int | None = None
    ) -> Subscription:
        return await self.inner.subscribe(pattern, name=name, maxsize=maxsize, max_bytes=max_bytes)


class SlowApi:
    """An API service that answers only once ``ready`` is set."""

    name = "api"

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.starting = asyncio.Event()
        self._url: str | None = None

    @property
    def url(self) -> str | None:
        return self._url

    async def start(self) -> None:
        self.starting.set()
        await self.ready.wait()
        self._url = "http://127.0.0.1:1"

    async def stop(self) -> None:
        self._url = None

    def health(self) -> dict[str, Any]:
        return {"state": "running" if self._url else "stopped"}


def test_bus_full_is_a_bus_error_in_the_one_tree() -> None:
    assert issubclass(BusFull, BusError)
    assert shopfloor.bus.BusFull is shopfloor.errors.BusFull
    assert issubclass(PortInUse, ServiceError)


async def test_platform_runs_on_any_bus_and_closes_what_it_started(project: Project) -> None:
    bus = CountingBus()
    assert isinstance(bus, Bus)
    store = DuckDBStore(project.store_path, project.config.store)
    platform = Platform(project, store, bus)
    await platform.start()
    assert bus.started and platform.api_url is None
    ref = SignalRef(ASSET, "spindle_speed")
    t0 = to_ns("2024-05-01T00:00:00Z")
    for i in range(5):
        await bus.publish(
            topic_for(ref), ScalarBatch.of(ref, [t0 + i * 10**9], [float(i)], Provenance("t"))
        )
    status = await platform.status()
    assert "published" not in status["bus"]
    await platform.stop()
    assert bus.closed
    check = DuckDBStore(project.store_path, project.config.store)
    await check.open()
    try:
        table = await check.read_scalars(ref, t0, t0 + 10 * 10**9)
        assert np.array_equal(table.column("value").to_numpy(), np.arange(5.0))
    finally:
        await check.close()


async def test_lock_appears_only_once_the_api_answers(project: Project) -> None:
    api = SlowApi()

    def build(store: Store, status: StatusProvider) -> SlowApi:
        return api

    platform = Platform.from_project(project, api=build)
    start = asyncio.create_task(platform.start())
    await asyncio.wait_for(api.starting.wait(), 10)
    await asyncio.sleep(0.05)
    assert read_lock(project.state_dir) is None, "lock written before the API answers"
    api.ready.set()
    await asyncio.wait_for(start, 10)
    try:
        lock = read_lock(project.state_dir)
        assert lock is not None and lock.api_url == "http://127.0.0.1:1"
    finally:
        await platform.stop()
    assert read_lock(project.state_dir) is None


async def test_the_api_answers_as_soon_as_the_lock_names_it(project: Project) -> None:
    platform = Platform.from_project(project, api=api_server_factory(project, port=0))
    await platform.start()
    try:
        lock = read_lock(project.state_dir)
        assert lock is not None and lock.api_url is not None
        token = read_token(project.state_dir)
        assert token is not None, "the platform's own token is written with the lock"
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=lock.api_url, timeout=5, headers=headers) as client:
            assert (await client.get("/api/v1/health")).status_code == 200
            body = (await client.get("/api/v1/status")).json()
        assert body["services"]["api"]["state"] == "running"
    finally:
        await platform.stop()
    assert read_lock(project.state_dir) is None


async def test_a_taken_port_is_port_in_use_naming_address_and_pid() -> None:
    holder = listening_socket()
    port = holder.getsockname()[1]
    try:
        from fastapi import FastAPI

        server = ApiServer(FastAPI(), host="127.0.0.1", port=port)
        with pytest.raises(PortInUse) as caught:
            await server.start()
        err = caught.value
        assert (err.host, err.port, err.pid) == ("127.0.0.1", port, os.getpid())
        assert str(err) == f"port {port} on 127.0.0.1 is in use (pid {os.getpid()})"
        assert not isinstance(err, shopfloor.errors.StoreUnavailable)
        assert server.url is None and server.health()["state"] == "stopped"
    finally:
        holder.close()


async def test_a_taken_port_stops_the_platform_cleanly(project: Project) -> None:
    holder = listening_socket()
    port = holder.getsockname()[1]
    try:
        platform = Platform.from_project(project, api=api_server_factory(project, port=port))
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is in use"):
            await platform.start()
        assert read_lock(project.state_dir) is None
        # the store was closed again: another platform can open it
        again = Platform.from_project(project)
        await again.start()
        await again.stop()
    finally:
        holder.close()


def test_listener_pid_is_none_for_a_free_port() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    assert listener_pid(port) is None


def test_unknown_backends_are_config_errors_naming_them() -> None:
    config = BusConfig.model_construct(backend="mqtt")
    with pytest.raises(ConfigError, match=r"bus\.backend 'mqtt' is not supported"):
        create_bus(config)
