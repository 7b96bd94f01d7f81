"""Plant: the ISA-95 asset tree, each asset's health at a glance, the connectors' health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shopfloor.services.plant import plant_overview
from shopfloor.studio.app import render
from shopfloor.studio.auth import Viewer, context_of

__all__ = ["router"]

router = APIRouter()


async def _overview(request: Request) -> dict[str, Any]:
    ctx = context_of(request)
    status = None if ctx.status is None else await ctx.status()
    return await plant_overview(ctx.project, ctx.store, status)


@router.get("/plant", response_class=HTMLResponse)
async def plant(request: Request, session: Viewer) -> HTMLResponse:
    """The asset tree with each asset's health, deployments and active alerts."""
    return render(request, "plant.html", session, page="plant", **await _overview(request))


@router.get("/plant/live", response_class=HTMLResponse)
async def plant_live(request: Request, session: Viewer) -> HTMLResponse:
    """The same, without the page around it (htmx refreshes it)."""
    return render(request, "_plant.html", session, **await _overview(request))
