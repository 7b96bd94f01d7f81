"""What a person does with deployments: deploy, list, show, compare, stop, roll back.

Shared by the CLI (``shopfloor deploy``, ``shopfloor deployments``, ``shopfloor
rollback``) and the API. Each change is written to the project store as desired state with
its audit entry (:mod:`shopfloor.runtime.deployments.desired`); a running platform
follows it within its ``runtime.reconcile_s``. While the platform runs, the store is
reached over its API (:func:`~shopfloor.services.store.project_store`), which keeps the
change with the token's name (engineer role).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.config import Project
from shopfloor.errors import (
    ConfigError,
    DeploymentError,
    DeploymentNotFound,
    StoreError,
    UnknownSignal,
)
from shopfloor.model import SignalRef, format_ns, now_ns
from shopfloor.model.deployment import Deployment, DeploymentChange, Mode
from shopfloor.node.deployments import project_catalog
from shopfloor.runtime.deployments import (
    deploy_model,
    find_deployment,
    read_output,
    rollback_asset,
    state_from_code,
    stop_deployment,
)
from shopfloor.services.listing import Listing
from shopfloor.store import Store
from shopfloor.store.protocol import AlertStore, DeploymentStore

__all__ = [
    "changes_view",
    "compare_deployments",
    "comparison_view",
    "deploy",
    "deployment_view",
    "deployments_listing",
    "list_deployments",
    "parse_mode",
    "rollback",
    "show_deployment",
    "stop",
]

_DAY_NS = 86_400 * 1_000_000_000


def _store(store: Store) -> DeploymentStore:
    if not isinstance(store, DeploymentStore):
        raise StoreError(f"this store ({type(store).__name__}) keeps no deployments")
    return store


def parse_mode(text: str) -> Mode:
    """``shadow`` or ``active``; ``ConfigError`` naming ``--mode`` otherwise."""
    if text not in ("shadow", "active"):
        raise ConfigError(f"--mode must be shadow or active, got {text!r}")
    return "active" if text == "active" else "shadow"


def changes_view(rows: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    """What :func:`deploy`, :func:`rollback` or :func:`stop` changed, one line each."""
    lines = []
    for row in [rows] if isinstance(rows, dict) else rows:
        change = row["change"]
        where = f"{row['name']} on {row['asset']}"
        if change is None:
            lines.append(f"{where}: {row['ref']} ({row['mode']}) already runs; nothing changed")
            continue
        before = f" (was {change['from_ref']})" if change["from_ref"] else ""
        lines.append(
            f"{change['action']}: {where} → {change['to_ref'] or 'stopped'} ({row['mode']})"
            f"{before} by {change['who']}"
        )
    return lines


def _changed(pairs: list[tuple[Deployment, DeploymentChange | None]]) -> list[dict[str, Any]]:
    return [{**d.as_dict(), "change": None if c is None else c.as_dict()} for d, c in pairs]


async def deploy(
    project: Project,
    store: Store,
    ref: str,
    *,
    assets: list[str],
    mode: Mode,
    name: str | None,
    who: str,
    reason: str = "",
) -> list[dict[str, Any]]:
    """Deploy ``ref`` (``M@V``, ``M@production``) on ``assets``; each deployment and its change.

    The change is ``None`` where exactly this already ran.
    """
    pairs = await deploy_model(
        _store(store),
        project_catalog(project),
        ref,
        assets=assets,
        mode=mode,
        name=name,
        who=who,
        reason=reason,
    )
    return _changed(pairs)


async def rollback(
    project: Project, store: Store, asset: str, *, name: str | None, who: str, reason: str = ""
) -> dict[str, Any]:
    """Go back one version on ``asset``; the deployment and its change."""
    pair = await rollback_asset(
        _store(store), project_catalog(project), asset, name=name, who=who, reason=reason
    )
    return _changed([pair])[0]


async def stop(
    store: Store, name: str, *, asset: str | None, who: str, reason: str = ""
) -> list[dict[str, Any]]:
    """Stop deployment ``name`` (on ``asset``, or everywhere)."""
    pairs = await stop_deployment(_store(store), name, asset=asset, who=who, reason=reason)
    return _changed(list(pairs))


def _score_output(d: Deployment) -> str:
    """The output a deployment scores on: ``score``, or an image classifier's ``confidence``."""
    return "score" if d.image_signal is None else "confidence"


async def _last_window(store: Store, d: Deployment) -> str | None:
    try:
        span = await store.time_range(SignalRef(d.asset, d.signal_name(_score_output(d))))
    except UnknownSignal:  # deployed, never run
        return None
    return None if span is None else format_ns(span[1])


async def list_deployments(
    store: Store, *, asset: str | None = None, name: str | None = None, stopped: bool = False
) -> list[dict[str, Any]]:
    """Deployments (running ones, or all with ``stopped``), with their last scored window."""
    found = await _store(store).list_deployments(name=name, asset=asset)
    out = []
    for d in found:
        if d.running or stopped:
            out.append({**d.as_dict(), "last_window": await _last_window(store, d)})
    return out


def deployments_listing(rows: list[dict[str, Any]]) -> Listing:
    """:func:`list_deployments` as a table."""
    return Listing(
        f"{len(rows)} deployment(s)",
        ("name", "asset", "model", "mode", "running", "last_window", "changed", "changed_by"),
        [
            (
                r["name"],
                r["asset"],
                r["ref"],
                r["mode"],
                "yes" if r["running"] else "stopped",
                r["last_window"] or "-",
                r["changed"],
                r["changed_by"],
            )
            for r in rows
        ],
        whole=("name", "model"),
    )


def deployment_view(result: dict[str, Any]) -> list[Listing]:
    """:func:`show_deployment`: the deployment on each asset, then its audit log."""
    columns = ("at", "action", "asset", "who", "from_ref", "to_ref", "reason")
    rows = [tuple(c[k] or "-" for k in columns) for c in result["log"]]
    heads = ("at", "action", "asset", "who", "from", "to", "why")
    return [deployments_listing(result["deployments"]), Listing("audit log", heads, rows)]


async def show_deployment(
    store: Store, name: str, *, asset: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Deployment ``name`` on each asset, with its audit log (newest first)."""
    target = _store(store)
    found = await target.list_deployments(name=name, asset=asset)
    if not found:
        raise DeploymentNotFound(f"no deployment {name!r} (see 'shopfloor deployments list')")
    log = await target.deployment_log(name=name, asset=asset, limit=limit)
    return {
        "name": name,
        "deployments": [
            {**d.as_dict(), "last_window": await _last_window(store, d)} for d in found
        ],
        "log": [c.as_dict() for c in log],
    }


def _entries(codes: npt.NDArray[np.float64], level: float) -> int:
    """How many times the state went up to ``level`` (from below or unknown)."""
    at = np.nan_to_num(codes, nan=-1.0) >= level
    return int(np.sum(at[1:] & ~at[:-1]) + (1 if at.size and at[0] else 0))


async def compare_deployments(
    project: Project,
    store: Store,
    asset: str,
    *,
    a: str | None = None,
    b: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> dict[str, Any]:
    """How two deployments on ``asset`` differ on the same windows (default: active vs shadow).

    Over ``[start_ns, end_ns)`` (default: the last 24 hours): windows each scored, windows
    both scored, the correlation of their scores on those, how often their states agree,
    how many times each went into alarm and warning, and the alerts raised for rules on
    each (a shadow's stay at 0: it never alerts).
    """
    target = _store(store)
    running = [d for d in await target.list_deployments(asset=asset) if d.running]
    first = await _pick(target, asset, a, running, "active")
    second = await _pick(target, asset, b, [d for d in running if d.key != first.key], "shadow")
    end = now_ns() if end_ns is None else end_ns
    start = end - _DAY_NS if start_ns is None else start_ns
    ta, sa = await read_output(store, first, _score_output(first), start, end)
    tb, sb = await read_output(store, second, _score_output(second), start, end)
    _, ca = await read_output(store, first, "state", start, end)
    _, cb = await read_output(store, second, "state", start, end)
    common, ia, ib = np.intersect1d(ta, tb, assume_unique=True, return_indices=True)
    x, y = sa[ia], sb[ib]
    both = np.isfinite(x) & np.isfinite(y)
    correlation = None
    if both.sum() >= 2 and np.std(x[both]) > 0 and np.std(y[both]) > 0:
        correlation = float(np.corrcoef(x[both], y[both])[0, 1])
    sta, stb = ca[ia], cb[ib]
    agree = (sta == stb) | (np.isnan(sta) & np.isnan(stb))
    disagreements = [
        {
            "window": format_ns(int(t)),
            first.name: state_from_code(float(p)),
            second.name: state_from_code(float(q)),
        }
        for t, p, q, ok in zip(common[:200], sta[:200], stb[:200], agree[:200], strict=True)
        if not ok
    ][:20]

    async def side(d: Deployment, codes: npt.NDArray[np.float64], scored: int) -> dict[str, Any]:
        return {
            "name": d.name,
            "model": d.ref,
            "mode": d.mode,
            "windows": scored,
            "alarms": _entries(codes, 2.0),
            "warnings": _entries(codes, 1.0),
            "alerts_raised": await _alerts(project, store, d, start, end),
        }

    return {
        "asset": asset,
        "from": format_ns(start),
        "to": format_ns(end),
        "a": await side(first, sta, int(ta.size)),
        "b": await side(second, stb, int(tb.size)),
        "common_windows": int(common.size),
        "score_correlation": correlation,
        "state_agreement": float(agree.mean()) if agree.size else None,
        "disagreements": disagreements,
    }


def comparison_view(result: dict[str, Any]) -> list[str | Listing]:
    """:func:`compare_deployments` as a table of the two sides and a line of agreement."""
    columns = ("name", "model", "mode", "windows", "alarms", "warnings", "alerts_raised")
    table = Listing(
        f"{result['asset']}, {result['from']} .. {result['to']}",
        columns,
        [tuple(result[side][c] for c in columns) for side in ("a", "b")],
        numbers=("windows", "alarms", "warnings", "alerts_raised"),
    )
    corr, agree = result["score_correlation"], result["state_agreement"]
    return [
        table,
        f"{result['common_windows']} windows scored by both; score correlation "
        f"{'-' if corr is None else f'{corr:.3f}'}; states agree on "
        f"{'-' if agree is None else f'{100 * agree:.1f} %'} of them",
    ]


async def _pick(
    store: DeploymentStore,
    asset: str,
    name: str | None,
    running: list[Deployment],
    mode: str,
) -> Deployment:
    if name is not None:
        return await find_deployment(store, asset=asset, name=name)
    wanted = [d for d in running if d.mode == mode] or running
    if len(wanted) != 1:
        names = ", ".join(d.name for d in running) or "none"
        raise DeploymentError(
            f"compare on {asset!r}: give the deployments with --a and --b (running: {names})"
        )
    return wanted[0]


async def _alerts(project: Project, store: Store, d: Deployment, start: int, end: int) -> int:
    """Alerts opened in ``[start, end)`` on ``d``'s asset by rules on ``d``."""
    if not isinstance(store, AlertStore):
        return 0
    rules = [r.name for r in project.config.alert_rules if r.deployment == d.name]
    count = 0
    for rule in rules:
        try:
            found = await store.list_alerts(asset=d.asset, rule=rule)
        except StoreError:  # alerts not served where the store is (over HTTP)
            return 0
        count += sum(
            1 for alert in found if start <= alert.opened_ns < end and alert.asset == d.asset
        )
    return count
