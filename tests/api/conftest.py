from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shopfloor.api.app import create_app
from shopfloor.api.audit import AuditLog
from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.store import DuckDBStore

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
