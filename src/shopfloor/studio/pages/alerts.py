"""Alerts: the inbox with filters, acknowledge, resolve, confirm or call a false alarm.

The inbox refreshes itself (htmx polls :func:`rows` every few seconds), so a new alert
shows up without a reload. Changes need the operator role; each is kept in the alert's
history by the services and written to the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shopfloor.errors import RequestInvalid
from shopfloor.model.paths import validate_asset_path
from shopfloor.services.alerts import (
    STATE_FILTERS,
    AlertChangeOptions,
    AlertListOptions,
    FeedbackOptions,
    change_alert,
    list_alerts,
    show_alert,
)
from shopfloor.studio.app import ROOT, render
from shopfloor.studio.auth import Operator, Viewer, audited, context_of, form_of

__all__ = ["ACTIONS", "SEVERITIES", "router"]

router = APIRouter()

SEVERITIES = ("info", "warning", "alarm")
ACTIONS = ("ack", "resolve", "confirmed", "false_alarm")
"""What the Studio lets an operator do to an alert (the last two are feedback)."""
POLL_S = 2
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _filters(state: str, asset: str | None, severity: str | None) -> AlertListOptions:
    if state not in STATE_FILTERS:
        raise RequestInvalid(f"state must be one of {', '.join(STATE_FILTERS)}, got {state!r}")
    if severity and severity not in SEVERITIES:
        raise RequestInvalid(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    if asset:
        try:
            validate_asset_path(asset)
        except ValueError as err:
            raise RequestInvalid(f"asset {asset!r}: {err}") from err
    return AlertListOptions(state=state, asset=asset or None, severity=severity or None, limit=200)


async def _inbox(
    request: Request, state: str, asset: str | None, severity: str | None
) -> dict[str, Any]:
    ctx = context_of(request)
    options = _filters(state, asset, severity)
    return {
        "alerts": await list_alerts(ctx.store, options),
        "filters": {"state": state, "asset": asset or "", "severity": severity or ""},
        "states": list(STATE_FILTERS),
        "severities": SEVERITIES,
        "assets": [a.path for a in ctx.project.config.assets],
        "poll_s": POLL_S,
    }


State = Annotated[str, Query(max_length=32)]
Asset = Annotated[str | None, Query(max_length=512)]
Severity = Annotated[str | None, Query(max_length=32)]


async def inbox_of(
    request: Request,
    state: State = "active",
    asset: Asset = None,
    severity: Severity = None,
) -> dict[str, Any]:
    """A dependency: the inbox the query asks for (state, asset, severity)."""
    return await _inbox(request, state, asset, severity)


Inbox = Annotated[dict[str, Any], Depends(inbox_of)]


@router.get("/alerts", response_class=HTMLResponse)
async def inbox(request: Request, session: Viewer, found: Inbox) -> HTMLResponse:
    """The inbox: alerts newest first, filtered by state, asset and severity."""
    return render(request, "alerts.html", session, page="alerts", **found)


@router.get("/alerts/rows", response_class=HTMLResponse)
async def rows(request: Request, session: Viewer, found: Inbox) -> HTMLResponse:
    """The inbox's rows alone (htmx polls them)."""
    return render(request, "_alert_rows.html", session, **found)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert(request: Request, session: Viewer, alert_id: AlertId) -> HTMLResponse:
    """One alert with its history, and the forms that change it."""
    found = await show_alert(context_of(request).store, alert_id)
    return render(request, "alert.html", session, page="alerts", alert=found, actions=ACTIONS)


@router.post("/alerts/{alert_id}/{action}")
async def act(
    request: Request, session: Operator, alert_id: AlertId, action: str
) -> RedirectResponse:
    """Acknowledge, resolve, confirm or call a false alarm (with the form's ``comment``)."""
    if action not in ACTIONS:
        raise RequestInvalid(f"alert action must be one of {', '.join(ACTIONS)}, got {action!r}")
    ctx = context_of(request)
    form = await form_of(request)
    comment = form.get("comment", "").strip()[:2000]
    options: AlertChangeOptions
    if action in ("confirmed", "false_alarm"):
        fault = form.get("fault", "").strip() or None
        options = FeedbackOptions(alert_id=alert_id, comment=comment, verdict=action, fault=fault)
        kind = "feedback"
    else:
        options = AlertChangeOptions(alert_id=alert_id, comment=comment)
        kind = action
    detail = {"alert": alert_id, "action": action, "comment": comment}
    await audited(
        request,
        session,
        f"alert_{action}",
        detail,
        lambda: change_alert(ctx.store, kind, options, who=session.user),
    )
    back = form.get("back", "")
    target = back if back.startswith(f"{ROOT}/alerts") and "//" not in back else None
    return RedirectResponse(target or f"{ROOT}/alerts/{alert_id}", status_code=303)
