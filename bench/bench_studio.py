"""Studio page loads: the Plant and Alerts pages with 100 assets and 10,000 alerts.

Each page is asked for through the whole app as the platform serves it (the API's request
guard, the session check, the services, the store, the templates), in process over
httpx's ASGI transport, by a logged-in viewer; the figure is the median of ``REPEAT``
loads after one untimed load. The baseline is ``/healthz`` through the same stack. Goal
(issue 22): each page under 0.3 s.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import Measurement, Section
from shopfloor.api.app import create_app
from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import TokenRegistry
from shopfloor.config import load_project
from shopfloor.model import NS_PER_S, now_ns
from shopfloor.model.alert import acknowledge, raise_alert, resolve
from shopfloor.services.sessions import SessionStore
from shopfloor.services.users import FAST_HASHER, Role, UserRegistry
from shopfloor.store import DuckDBStore
from shopfloor.studio import StudioContext, create_studio

REPEAT = 7
GOAL_S = 0.3
SEVERITIES = ("info", "warning", "alarm")


def _project_yaml(assets: int) -> str:
    lines = ["project: {name: studio-bench}", "assets:"]
    for i in range(assets):
        area, line, cell = i // 25, (i // 5) % 5, i % 5
        lines += [
            f"  - path: acme/p1/area{area}/line{line}/cell{cell}/m{i:03d}",
            "    signals: [{name: temp, unit: degC}, {name: speed, unit: rpm}]",
        ]
    return "\n".join(lines) + "\n"


async def _seed(store: DuckDBStore, paths: list[str], alerts: int) -> None:
    start = now_ns() - alerts * NS_PER_S
    for k in range(alerts):
        alert, change = raise_alert(
            None,
            rule=f"rule-{k % 7}",
            asset=paths[k % len(paths)],
            severity=SEVERITIES[k % 3],
            message=f"value {k} above its limit",
            at_ns=start + k * NS_PER_S,
            signal="temp",
            value=float(k),
        )
        changes = [change]
        if k % 3 == 1:
            alert, more = acknowledge(alert, who="bench", at_ns=start + k * NS_PER_S + 1)
            changes.append(more)
        elif k % 3 == 2:
            alert, more = resolve(alert, who="bench", at_ns=start + k * NS_PER_S + 1)
            changes.append(more)
        await store.save_alert(alert, changes)


async def _measure(assets: int, alerts: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "plant"
        folder.mkdir()
        (folder / "factory.yaml").write_text(_project_yaml(assets))
        project = load_project(folder)
        async with DuckDBStore(project.store_path) as store:
            for asset in project.config.assets:
                await store.register_signals(asset.path, asset.signals)
            await _seed(store, [a.path for a in project.config.assets], alerts)
            users = UserRegistry(None, hasher=FAST_HASHER)
            viewer = users.add("viewer", Role.VIEWER, "bench password")
            sessions = SessionStore(users)
            session = sessions.open(viewer)
            ctx = StudioContext(project=project, store=store, users=users, sessions=sessions)
            security = ApiSecurity(TokenRegistry(), sessions=sessions, form_paths=("/studio/",))
            app = create_app(store, security, mounts=[("/studio", create_studio(ctx))])
            out: dict[str, float] = {}
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://127.0.0.1",
                cookies={"shopfloor_session": session.id},
            ) as client:
                for name, path in (
                    ("healthz", "/healthz"),
                    ("plant", "/studio/plant"),
                    ("alerts", "/studio/alerts"),
                    ("alerts_all", "/studio/alerts?state=all"),
                ):
                    answer = await client.get(path)
                    answer.raise_for_status()
                    times = []
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        (await client.get(path)).raise_for_status()
                        times.append(time.perf_counter() - t0)
                    out[name] = statistics.median(times)
            return out


def run(assets: int = 100, alerts: int = 10_000, repeat: int = REPEAT) -> Section:
    section = Section(
        "Studio page loads",
        f"Median of {repeat} loads of a Studio page by a logged-in viewer, through the whole "
        f"app in process (request guard, session, services, DuckDB store, templates), with "
        f"{assets} assets and {alerts:,} alerts (a third each open, acknowledged, resolved), "
        f"against `/healthz` through the same stack. Goal (issue 22): under {GOAL_S} s each.",
    )
    found = asyncio.run(_measure(assets, alerts, repeat))
    pages = {
        "plant": "Plant page (asset tree, health, active alerts counted by asset)",
        "alerts": "Alerts page (active alerts, newest 200)",
        "alerts_all": "Alerts page, every state (newest 200)",
    }
    for key, name in pages.items():
        section.measurements.append(
            Measurement(
                name,
                found[key],
                "s",
                baseline=found["healthz"],
                baseline_name="/healthz",
                higher_is_better=False,
                goal=f"< {GOAL_S} s",
                goal_max=GOAL_S,
            )
        )
    section.notes.append(
        "The pages are measured without a browser: what the server takes to answer. The "
        "browser tests (tests/studio/test_browser.py) check what Chromium shows."
    )
    return section
