"""How the Studio is served: /metrics, the local single-user mode, the platform's wiring."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shopfloor.api.metrics import prometheus_text
from shopfloor.api.server import api_server_factory
from shopfloor.config import load_project
from shopfloor.errors import ConfigError
from shopfloor.node import Platform
from shopfloor.services.users import Role
from shopfloor.store import DuckDBStore
from shopfloor.studio import studio_factory
from tests.studio.conftest import M1, M2, Plant, Studio, build_studio

LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$|^# (HELP|TYPE) ')

STATUS = {
    "platform": {"uptime_s": 12.5},
    "bus": {"store_queue": 4},
    "store": {"spill": {"pending": 0}},
    "store_sink": {"records": 1200, "failures": 1},
    "services": {
        "connectors": {
            "cnc": {
                "health": "degraded",
                "values_in": 1000,
                "rejected": 3,
                "reconnects": 2,
                "journal": {"pending": 17},
            },
            'odd"name': {"health": "ok", "values_in": 5},
            "_health": {"health": "degraded"},
        },
        "deployments": {"deployments": {"vib on m1": {"windows": 42}}, "errors": 0},
    },
}


def test_prometheus_text_is_well_formed_and_covers_the_platform() -> None:
    text = prometheus_text(
        STATUS, {"rows": {"scalars": 10}, "size_bytes": 2048}, {("open", "alarm"): 3}
    )
    for line in text.splitlines():
        assert LINE.match(line), line
    assert 'shopfloor_connector_up{connector="cnc",health="degraded"} 1' in text
    assert 'shopfloor_connector_values_total{connector="cnc"} 1000' in text
    assert 'shopfloor_connector_journal_pending{connector="cnc"} 17' in text
    assert 'connector="odd\\"name"' in text and "_health" not in text
    assert "shopfloor_bus_store_queue 4" in text
    assert 'shopfloor_store_rows{table="scalars"} 10' in text
    assert 'shopfloor_deployment_windows_total{deployment="vib on m1"} 42' in text
    assert 'shopfloor_alerts{state="open",severity="alarm"} 3' in text
    assert text.count("# TYPE shopfloor_connector_up gauge") == 1


async def test_metrics_need_a_token_and_count_the_alerts(studio: Studio) -> None:
    await studio.alert(M1, "alarm")
    await studio.alert(M2, "warning")
    async with studio.client() as client:
        assert (await client.get("/metrics")).status_code == 401
        answer = await client.get(
            "/metrics", headers={"authorization": f"Bearer {studio.secrets[Role.VIEWER]}"}
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'shopfloor_alerts{state="open",severity="alarm"} 1' in answer.text
    assert "shopfloor_store_size_bytes" in answer.text
    assert (await studio.client().get("/healthz")).status_code == 200


async def test_local_mode_needs_no_login_is_flagged_and_still_checks_csrf(
    plant: Plant, tmp_path: Path
) -> None:
    async with DuckDBStore(plant.project.store_path, read_only=True) as store:
        local = build_studio(plant.project, store, tmp_path, local_user="local")
        async with local.client() as client:
            first = await client.get("/studio/alerts")
            assert first.status_code == 303 and "shopfloor_session" in first.headers["set-cookie"]
            page = await client.get("/studio/alerts")
            assert page.status_code == 200 and "local single-user mode" in page.text
            assert "admin" in page.text and "Log out" not in page.text
            assert (await client.get("/studio/login")).status_code == 303
            refused = await client.post("/studio/alerts/1/ack", data={"comment": "x"})
            assert refused.status_code == 403
            found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
            assert found, "the page gives htmx no CSRF header"
            passed = await client.post(
                "/studio/alerts/999/ack", data={"csrf_token": found.group(1)}
            )
            assert passed.status_code == 404  # past the CSRF check, to the missing alert


def test_local_mode_is_refused_beyond_loopback(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    folder.mkdir()
    (folder / "factory.yaml").write_text("project: {name: wide}\napi: {host: localhost}\n")
    project = load_project(folder)
    with pytest.raises(ConfigError, match=r"local single-user mode needs api\.host 127\.0\.0\.1"):
        api_server_factory(project, studio=studio_factory(project), local_user="local")


@pytest.mark.slow
async def test_the_platform_serves_the_studio_beside_the_api(tmp_path: Path) -> None:
    import httpx

    folder = tmp_path / "plant"
    folder.mkdir()
    (folder / "factory.yaml").write_text(
        f"project: {{name: served}}\nassets:\n  - path: {M1}\n    signals: [{{name: t}}]\n"
    )
    project = load_project(folder)
    factory = api_server_factory(project, port=0, studio=studio_factory(project))
    async with Platform.from_project(project, api=factory) as platform:
        assert platform.api_url is not None
        async with httpx.AsyncClient(base_url=platform.api_url) as client:
            login = await client.get("/studio/plant")
            assert login.status_code == 303
            page = await client.get(login.headers["location"])
            assert page.status_code == 200 and "Log in" in page.text


@pytest.mark.slow
def test_the_page_load_bench_reports_its_figures() -> None:
    import math

    from bench.bench_studio import run

    section = run(assets=5, alerts=30, repeat=1)
    assert len(section.measurements) == 3
    for m in section.measurements:
        assert math.isfinite(m.ours) and m.meets_goal in (True, False)
