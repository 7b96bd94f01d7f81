from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from shopfloor.api.app import create_app
from shopfloor.api.audit import AuditLog
from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.store import DuckDBStore, Store

ASSET = "acme/plant1/press-shop/line1/cell1/press-3"


@dataclass
class Api:
    app: FastAPI
    store: DuckDBStore
    tokens: TokenRegistry
    audit: AuditLog
    secrets: dict[Role, str]

    def client(self, role: Role | None = None, host: str = "127.0.0.1") -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {self.secrets[role]}"} if role else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=f"http://{host}",
            headers=headers,
        )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    tokens = TokenRegistry(tmp_path / "tokens.json")
    secrets = {role: tokens.create(role.value, role) for role in Role}
    audit = AuditLog(tmp_path / "audit.jsonl")
    security = ApiSecurity(
        tokens,
        allowed_hosts=["plant.example"],
        max_body_bytes=1_000_000,
        max_json_bytes=100_000,
        audit=audit,
    )
    try:
        yield Api(create_app(store, security), store, tokens, audit, secrets)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def served(store: Store, security: ApiSecurity) -> AsyncIterator[str]:
    """The API over ``store`` served by uvicorn on a free loopback port; yields its URL."""
    async with serving(create_app(store, security)) as url:
        yield url


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port; yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: raise its error
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
