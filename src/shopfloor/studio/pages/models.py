"""Models & deployments: registry versions as cards, promote, deploy, roll back.

Setting a version's stage, deploying it (shadow or active) and rolling back need the
engineer role: an operator sees the buttons disabled, and the server refuses their POST
(403) all the same. Every change is kept in the
deployments' audit log (shown here) and in the API's audit log.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shopfloor.errors import RequestInvalid
from shopfloor.services.deployments import (
    deploy,
    deployment_changes,
    list_deployments,
    parse_mode,
    rollback,
)
from shopfloor.services.models import STAGES, list_models, promote_model
from shopfloor.studio.app import ROOT, render
from shopfloor.studio.auth import Editor, Viewer, audited, context_of, form_of

__all__ = ["router"]

router = APIRouter()


def _cards(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registry versions grouped by model, newest version first."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row)
    return [
        {"name": name, "versions": sorted(versions, key=lambda v: -int(v["version"]))}
        for name, versions in sorted(by_name.items())
    ]


@router.get("/models", response_class=HTMLResponse)
async def models(request: Request, session: Viewer) -> HTMLResponse:
    """The registry's versions, the deployments and their audit log."""
    ctx = context_of(request)
    rows = await asyncio.to_thread(list_models, ctx.project)
    return render(
        request,
        "models.html",
        session,
        page="models",
        cards=_cards(rows),
        deployments=await list_deployments(ctx.store, stopped=True),
        log=await deployment_changes(ctx.store, limit=50),
        assets=[a.path for a in ctx.project.config.assets],
        stages=STAGES,
    )


def _asset(form: dict[str, str], request: Request) -> str:
    asset = form.get("asset", "").strip()
    known = {a.path for a in context_of(request).project.config.assets}
    if asset not in known:
        raise RequestInvalid(f"asset {asset!r} is not an asset of the project")
    return asset


def _version(form: dict[str, str]) -> str:
    ref = form.get("ref", "").strip()
    if not ref or len(ref) > 200:
        raise RequestInvalid(f"ref {ref!r}: give a model version as NAME@VERSION")
    return ref


@router.post("/deploy")
async def deploy_version(request: Request, session: Editor) -> RedirectResponse:
    """Deploy the form's ``ref`` on its ``asset`` in its ``mode`` (engineer)."""
    ctx = context_of(request)
    form = await form_of(request)
    ref = _version(form)
    asset = _asset(form, request)
    try:
        mode = parse_mode(form.get("mode", "shadow"))
    except ValueError as err:
        raise RequestInvalid(str(err)) from err
    reason = form.get("reason", "").strip()[:500]
    detail = {"ref": ref, "asset": asset, "mode": mode, "reason": reason}
    await audited(
        request,
        session,
        "deploy",
        detail,
        lambda: deploy(
            ctx.project,
            ctx.store,
            ref,
            assets=[asset],
            mode=mode,
            name=None,
            who=session.user,
            reason=reason,
        ),
    )
    return RedirectResponse(f"{ROOT}/models", status_code=303)


@router.post("/rollback")
async def roll_back(request: Request, session: Editor) -> RedirectResponse:
    """Go back one version of the form's deployment ``name`` on ``asset`` (engineer)."""
    ctx = context_of(request)
    form = await form_of(request)
    asset = _asset(form, request)
    name = form.get("name", "").strip() or None
    reason = form.get("reason", "").strip()[:500]
    detail = {"asset": asset, "name": name, "reason": reason}
    await audited(
        request,
        session,
        "rollback",
        detail,
        lambda: rollback(ctx.project, ctx.store, asset, name=name, who=session.user, reason=reason),
    )
    return RedirectResponse(f"{ROOT}/models", status_code=303)


@router.post("/promote")
async def promote(request: Request, session: Editor) -> RedirectResponse:
    """Set the stage of the form's ``ref`` to its ``stage`` (engineer).

    A new production version archives the one before it.
    """
    ctx = context_of(request)
    form = await form_of(request)
    ref = _version(form)
    stage = form.get("stage", "").strip()
    await audited(
        request,
        session,
        "promote",
        {"ref": ref, "stage": stage},
        lambda: asyncio.to_thread(promote_model, ctx.project, ref, stage, who=session.user),
    )
    return RedirectResponse(f"{ROOT}/models", status_code=303)
