"""A project with three assets, history, two model versions and users of every role.

The Studio is served beside the API as the platform serves it (``create_app`` with the
Studio mounted at ``/studio``), over a real DuckDB store: in process through httpx for
the API tests, and by uvicorn on a free loopback port for the browser tests.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from shopfloor.api.app import create_app
from shopfloor.api.audit import AuditLog
from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import TokenRegistry
from shopfloor.config import Project, load_project
from shopfloor.model import (
    NS_PER_S,
    Provenance,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
    format_ns,
    now_ns,
)
from shopfloor.model.alert import raise_alert
from shopfloor.services.models import train_model
from shopfloor.services.options import TrainOptions
from shopfloor.services.sessions import SessionStore
from shopfloor.services.users import FAST_HASHER, Role, UserRegistry
from shopfloor.store import DuckDBStore
from shopfloor.studio import StudioContext, create_studio

M1 = "acme/p1/machining/line1/cell1/mill-1"
M2 = "acme/p1/machining/line1/cell2/mill-2"
M3 = "acme/p1/assembly/line2/cell1/press-1"
PASSWORD = "correct horse battery staple"
HOP = NS_PER_S // 10

PROJECT = f"""
project: {{name: studio-test}}
assets:
  - path: {M1}
    type: milling_machine
    signals:
      - {{name: vib, kind: waveform, unit: g, sample_rate_hz: 1000}}
      - {{name: temp, kind: scalar, unit: degC}}
  - path: {M2}
    signals:
      - {{name: vib, kind: waveform, unit: g, sample_rate_hz: 1000}}
  - path: {M3}
    signals:
      - {{name: force, kind: scalar, unit: kN}}
pipelines:
  - name: vib-features
    asset: {M1}
    sources: [vib]
    window: {{length_s: 0.1}}
    steps:
      - features: {{features: [rms, kurtosis, crest_factor]}}
"""


def _blocks(asset: str, start: int, n: int) -> list[WaveformBlock]:
    rng = np.random.default_rng(7)
    return [
        WaveformBlock(
            SignalRef(asset, "vib"),
            start + i * HOP,
            1000.0,
            rng.normal(size=100),
            "g",
            Provenance("t"),
        )
        for i in range(n)
    ]


@dataclass
class Plant:
    folder: Path
    project: Project
    refs: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Plant:
    """60 s of healthy vibration on two mills, a day of temperature, two versions of ``vib``."""
    folder = tmp_path_factory.mktemp("studio") / "plant"
    folder.mkdir()
    (folder / "factory.yaml").write_text(PROJECT)
    project = load_project(folder)
    start = (now_ns() // NS_PER_S - 60 - 80) * NS_PER_S

    async def fill() -> list[str]:
        async with DuckDBStore(project.store_path) as store:
            for asset in project.config.assets:
                await store.register_signals(asset.path, asset.signals)
            for path in (M1, M2):
                await store.write(_blocks(path, start, 600))
            t = np.arange(start - 86_400 * NS_PER_S, start, 10 * NS_PER_S)
            temp = 40 + 5 * np.sin(np.arange(t.size) / 500)
            await store.write([ScalarBatch.of(SignalRef(M1, "temp"), t, temp, Provenance("t"))])
        options = TrainOptions(
            name="vib",
            pipeline="vib-features",
            from_=format_ns(start),
            to=format_ns(start + 60 * NS_PER_S),
        )
        refs = []
        for _ in range(2):
            card = await train_model(options, project, who="test")
            refs.append(f"vib@{card['version']}")
        return refs

    return Plant(folder, project, asyncio.run(fill()))


@dataclass
class Studio:
    project: Project
    store: DuckDBStore
    users: UserRegistry
    sessions: SessionStore
    audit: AuditLog
    tokens: TokenRegistry
    app: FastAPI
    secrets: dict[Role, str]

    def client(self, host: str = "127.0.0.1") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=f"http://{host}"
        )

    async def post_login(
        self, client: httpx.AsyncClient, name: str, password: str = PASSWORD, **more: str
    ) -> httpx.Response:
        """The answer to ``client``'s login form filled in as ``name`` (with ``more`` fields)."""
        page = await client.get("/studio/login")
        form = {"csrf_token": hidden(page.text, "csrf_token"), "username": name}
        return await client.post("/studio/login", data={**form, "password": password, **more})

    async def login(self, client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
        """Log ``client`` in as ``name``; the session's CSRF token."""
        answer = await self.post_login(client, name, password, next="/studio/plant")
        assert answer.status_code == 303, answer.text
        plant = await client.get("/studio/plant")
        assert plant.status_code == 200
        return hidden(plant.text, "csrf_token")

    async def alert(self, asset: str = M1, severity: str = "alarm", rule: str = "vib-high") -> int:
        alert, change = raise_alert(
            None,
            rule=rule,
            asset=asset,
            severity=severity,
            message=f"{rule} on {asset}",
            at_ns=now_ns(),
        )
        return (await self.store.save_alert(alert, [change])).id or 0


def hidden(html: str, name: str) -> str:
    """The value of hidden input ``name`` in ``html``."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden input {name!r} in the page"
    return found.group(1)


ROLE_USERS = {"vera": Role.VIEWER, "otto": Role.OPERATOR, "erin": Role.ENGINEER, "ada": Role.ADMIN}


def build_studio(
    project: Project, store: DuckDBStore, state: Path, *, local_user: str | None = None
) -> Studio:
    users = UserRegistry(state / "users.json", hasher=FAST_HASHER)
    for name, role in ROLE_USERS.items():
        if users.get(name) is None:
            users.create(name, role, PASSWORD)
    sessions = SessionStore(users)
    audit = AuditLog(state / "audit.jsonl")
    tokens = TokenRegistry(state / "tokens.json")
    secrets = {role: tokens.add(role.value, role) for role in Role}
    security = ApiSecurity(
        tokens,
        max_json_bytes=100_000,
        audit=audit,
        sessions=sessions,
        users=users,
        form_paths=("/studio/",),
    )
    ctx = StudioContext(
        project=project,
        store=store,
        users=users,
        sessions=sessions,
        audit=audit,
        status=None,
        local_user=local_user,
    )
    app = create_app(store, security, mounts=[("/studio", create_studio(ctx))])
    return Studio(project, store, users, sessions, audit, tokens, app, secrets)


@pytest.fixture
async def studio(plant: Plant, tmp_path: Path) -> AsyncIterator[Studio]:
    """The Studio over a copy of the plant (each test changes its own store and registry)."""
    folder = tmp_path / "plant"
    shutil.copytree(plant.folder, folder)
    project = load_project(folder)
    async with DuckDBStore(project.store_path) as store:
        yield build_studio(project, store, tmp_path)
