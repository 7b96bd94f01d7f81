"""The plant at a glance: the ISA-95 asset tree with each asset's health and alerts.

Shared by the Studio's Plant page and the API. For every asset of the project it gives
the running deployments with their latest state (normal, warning, alarm, unknown) and
health index, the number of active alerts, and the worst of those as the asset's
``health``; the tree nests assets under their enterprise, site, area, line and cell
(:data:`~shopfloor.model.paths.ISA95_LEVELS`), each node carrying the worst health
below it. The connectors' health comes from the running platform's status.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from shopfloor.config import Project
from shopfloor.errors import StoreError, UnknownSignal
from shopfloor.model import SignalRef, format_ns
from shopfloor.model.alert import AlertState
from shopfloor.model.deployment import Deployment
from shopfloor.model.paths import ISA95_LEVELS
from shopfloor.runtime.deployments import state_from_code
from shopfloor.store import Store
from shopfloor.store.protocol import AlertStore, DeploymentStore

__all__ = ["HEALTH_ORDER", "asset_health", "connector_health", "plant_overview", "plant_tree"]

HEALTH_ORDER = ("normal", "unknown", "warning", "alarm")
"""Asset health from best to worst (an asset with no deployment is ``unknown``)."""
_ACTIVE = [AlertState.OPEN, AlertState.ACKNOWLEDGED]


def _worst(states: list[str]) -> str:
    return max(states, key=HEALTH_ORDER.index, default="unknown")


async def _latest(store: Store, ref: SignalRef) -> tuple[int, float] | None:
    """The last stored value of scalar ``ref`` and its time, or ``None``."""
    try:
        span = await store.time_range(ref)
        if span is None:
            return None
        table = await store.read_scalars(ref, span[1], span[1] + 1)
    except UnknownSignal:
        return None
    if table.num_rows == 0:
        return None
    return (
        int(table.column("ts").cast("int64")[-1].as_py()),
        float(table.column("value")[-1].as_py()),
    )


async def _deployment_health(store: Store, d: Deployment) -> dict[str, Any]:
    state = await _latest(store, SignalRef(d.asset, d.signal_name("state")))
    health = await _latest(store, SignalRef(d.asset, d.signal_name("health_index")))
    return {
        "name": d.name,
        "model": d.ref,
        "mode": d.mode,
        "state": "unknown" if state is None else state_from_code(state[1]),
        "health_index": None if health is None else round(health[1], 1),
        "at": None if state is None else format_ns(state[0]),
    }


def asset_health(deployments: list[dict[str, Any]], alerts: dict[str, int]) -> str:
    """An asset's health: the worst of its active deployments' states and active alerts.

    An active alert of severity alarm or warning counts as that state (info alerts do
    not); shadow deployments are shown but do not set the health.

    Examples
    --------
    >>> asset_health([{"mode": "active", "state": "warning"}], {})
    'warning'
    >>> asset_health([], {"alarm": 1}), asset_health([], {"info": 2})
    ('alarm', 'unknown')
    """
    states = [d["state"] for d in deployments if d["mode"] == "active"]
    states += [severity for severity in ("alarm", "warning") if alerts.get(severity)]
    return _worst(states)


def connector_health(status: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The connectors of a platform status (``services.connectors``), one row each."""
    connectors = ((status or {}).get("services") or {}).get("connectors") or {}
    rows = []
    for name, health in connectors.items():
        if name.startswith("_") or not isinstance(health, dict):
            continue
        rows.append(
            {
                "name": name,
                "health": str(health.get("health", "unknown")),
                "reason": health.get("reason"),
                "state": health.get("state"),
            }
        )
    return rows


def plant_tree(assets: list[dict[str, Any]]) -> dict[str, Any]:
    """Assets nested by ISA-95 level; every node has ``name``, ``level``, ``health``.

    Inner nodes have ``children``; leaves are the assets themselves (``asset``).
    """
    root: dict[str, Any] = {"name": "plant", "level": "root", "children": {}, "states": []}
    for asset in assets:
        node = root
        parts = asset["path"].split("/")
        node["states"].append(asset["health"])
        for depth, part in enumerate(parts[:-1]):
            level = ISA95_LEVELS[depth] if depth < len(ISA95_LEVELS) else "area"
            node = node["children"].setdefault(
                part, {"name": part, "level": level, "children": {}, "states": []}
            )
            node["states"].append(asset["health"])
        node["children"][parts[-1]] = {"name": parts[-1], "level": "asset", "asset": asset}

    def close(node: dict[str, Any]) -> dict[str, Any]:
        if "asset" in node:
            return {**node, "health": node["asset"]["health"]}
        return {
            "name": node["name"],
            "level": node["level"],
            "health": _worst(node["states"]),
            "children": [close(c) for c in node["children"].values()],
        }

    return close(root)


async def plant_overview(
    project: Project, store: Store, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every asset with its health, the asset tree, and the connectors' health.

    Returns
    -------
    dict
        ``assets`` (path, type, description, signals, deployments, alerts by severity,
        health), ``tree`` (:func:`plant_tree`), ``connectors`` (:func:`connector_health`)
        and ``counts`` of assets by health.
    """
    running: dict[str, list[Deployment]] = {}
    if isinstance(store, DeploymentStore):
        for d in await store.list_deployments():
            if d.running:
                running.setdefault(d.asset, []).append(d)
    alerts: dict[str, Counter[str]] = {}
    if isinstance(store, AlertStore):
        try:
            for alert in await store.list_alerts(states=_ACTIVE):
                alerts.setdefault(alert.asset, Counter())[alert.severity] += 1
        except StoreError:  # a store that does not serve alerts here (over HTTP)
            alerts = {}
    found = await asyncio.gather(
        *(_deployment_health(store, d) for ds in running.values() for d in ds)
    )
    by_asset: dict[str, list[dict[str, Any]]] = {}
    for d, row in zip((d for ds in running.values() for d in ds), found, strict=True):
        by_asset.setdefault(d.asset, []).append(row)
    assets = []
    for asset in project.config.assets:
        deployments = by_asset.get(asset.path, [])
        counts = dict(alerts.get(asset.path, Counter()))
        assets.append(
            {
                "path": asset.path,
                "name": asset.path.rsplit("/", 1)[-1],
                "type": asset.type,
                "description": asset.description,
                "signals": len(asset.signals),
                "deployments": deployments,
                "alerts": counts,
                "health": asset_health(deployments, counts),
            }
        )
    return {
        "assets": assets,
        "tree": plant_tree(assets),
        "connectors": connector_health(status),
        "counts": dict(Counter(a["health"] for a in assets)),
    }
