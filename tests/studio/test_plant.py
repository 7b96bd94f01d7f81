"""The plant at a glance (``services.plant``): tree, health, connectors."""

from __future__ import annotations

from shopfloor.model import Provenance, ScalarBatch, SignalRef, now_ns
from shopfloor.runtime.deployments import deployment_signals
from shopfloor.services.deployments import deploy
from shopfloor.services.plant import asset_health, connector_health, plant_overview, plant_tree
from tests.studio.conftest import M1, M2, M3, Plant, Studio


def test_the_tree_nests_assets_by_isa95_level_with_the_worst_health_below() -> None:
    assets = [
        {"path": M1, "health": "normal"},
        {"path": M2, "health": "alarm"},
        {"path": M3, "health": "unknown"},
    ]
    tree = plant_tree(assets)
    (enterprise,) = tree["children"]
    assert (enterprise["name"], enterprise["level"], enterprise["health"]) == (
        "acme",
        "enterprise",
        "alarm",
    )
    (site,) = enterprise["children"]
    machining, assembly = site["children"]
    assert (machining["level"], machining["health"]) == ("area", "alarm")
    assert (assembly["name"], assembly["health"]) == ("assembly", "unknown")
    (line,) = machining["children"]
    cell1, cell2 = line["children"]
    assert cell2["health"] == "alarm"
    assert cell1["children"][0]["asset"]["path"] == M1 and cell1["health"] == "normal"


def test_health_counts_active_deployments_and_alarm_or_warning_alerts() -> None:
    shadow = {"mode": "shadow", "state": "alarm"}
    active = {"mode": "active", "state": "normal"}
    assert asset_health([shadow, active], {}) == "normal"
    assert asset_health([active], {"warning": 2}) == "warning"
    assert asset_health([active], {"info": 2}) == "normal"
    assert asset_health([], {}) == "unknown"


def test_connector_rows_come_from_the_platform_status() -> None:
    status = {
        "services": {
            "connectors": {
                "cnc": {"health": "degraded", "reason": "journal holds 3", "state": "connected"},
                "_health": {"health": "degraded"},
            }
        }
    }
    assert connector_health(status) == [
        {"name": "cnc", "health": "degraded", "reason": "journal holds 3", "state": "connected"}
    ]
    assert connector_health(None) == [] and connector_health({"services": {}}) == []


async def test_an_asset_shows_its_deployment_state_and_health_index(
    studio: Studio, plant: Plant
) -> None:
    await deploy(
        studio.project, studio.store, plant.refs[0], assets=[M1], mode="active", name=None, who="t"
    )
    await studio.store.register_signals(M1, deployment_signals("vib"))
    t = now_ns()
    for output, value in (("state", 2.0), ("health_index", 35.04)):
        ref = SignalRef(M1, f"vib.{output}")
        await studio.store.write([ScalarBatch.of(ref, [t], [value], Provenance("t"))])
    overview = await plant_overview(studio.project, studio.store)
    mill = next(a for a in overview["assets"] if a["path"] == M1)
    (row,) = mill["deployments"]
    assert (row["model"], row["mode"], row["state"], row["health_index"]) == (
        plant.refs[0],
        "active",
        "alarm",
        35.0,
    )
    assert mill["health"] == "alarm" and overview["counts"]["alarm"] == 1
    async with studio.client() as client:
        await studio.login(client, "vera")
        page = await client.get("/studio/plant")
    assert "health 35.0 %" in page.text and "active: alarm" in page.text
