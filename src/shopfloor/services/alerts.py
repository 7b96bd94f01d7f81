"""What a person does with alerts: list, show, acknowledge, resolve, shelve, give feedback.

Shared by the CLI (``shopfloor alerts``) and, later, the API and Studio. Each function
takes the project's store (an :class:`~shopfloor.store.AlertStore`) and makes its change
through the pure lifecycle (:mod:`shopfloor.model.alert`), so the change is kept with its
history entry. Feedback is also kept as a label (``fault:<type>`` or ``healthy`` over the
alert's time range) that training can use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from shopfloor.errors import AlertNotFound, StoreError
from shopfloor.model import now_ns
from shopfloor.model.alert import (
    Alert,
    AlertChange,
    AlertState,
    acknowledge,
    feedback_label,
    give_feedback,
    resolve,
    shelve,
    unshelve,
)
from shopfloor.store import Store
from shopfloor.store.protocol import AlertStore, AnnotationStore

__all__ = [
    "STATE_FILTERS",
    "acknowledge_alert",
    "alert_feedback",
    "list_alerts",
    "resolve_alert",
    "shelve_alert",
    "show_alert",
    "summary_rows",
    "unshelve_alert",
]

STATE_FILTERS: dict[str, list[AlertState] | None] = {
    "active": [AlertState.OPEN, AlertState.ACKNOWLEDGED],
    "open": [AlertState.OPEN],
    "acknowledged": [AlertState.ACKNOWLEDGED],
    "resolved": [AlertState.RESOLVED],
    "all": None,
}
"""``--state`` choices: ``active`` is open or acknowledged."""


def _alerts(store: Store) -> AlertStore:
    if not isinstance(store, AlertStore):
        raise StoreError(f"this store ({type(store).__name__}) does not keep alerts")
    return store


async def _get(store: Store, alert_id: int) -> Alert:
    alert = await _alerts(store).get_alert(alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id} (see 'shopfloor alerts list --state all')")
    return alert


async def _save(store: Store, change: tuple[Alert, AlertChange]) -> dict[str, Any]:
    alert, entry = change
    kept = await _alerts(store).save_alert(alert, [entry])
    return {**kept.as_dict(), "change": entry.as_dict()}


async def list_alerts(
    store: Store,
    *,
    state: str = "active",
    asset: str | None = None,
    rule: str | None = None,
    limit: int | None = 100,
) -> list[dict[str, Any]]:
    """Alerts newest first, as JSON-able dicts.

    Parameters
    ----------
    state
        One of :data:`STATE_FILTERS` (default ``active``: open or acknowledged).
    asset
        Keep those of this asset and the assets below it.
    rule
        Keep those of this rule.
    limit
        At most this many (``None``: all).
    """
    if state not in STATE_FILTERS:
        raise StoreError(f"state must be one of {', '.join(STATE_FILTERS)}, got {state!r}")
    found = await _alerts(store).list_alerts(
        states=STATE_FILTERS[state], asset=asset, rule=rule, limit=limit
    )
    return [a.as_dict() for a in found]


async def show_alert(store: Store, alert_id: int) -> dict[str, Any]:
    """One alert with its history (``history``: every change, oldest first)."""
    alert = await _get(store, alert_id)
    history = await _alerts(store).alert_history(alert_id)
    return {**alert.as_dict(), "history": [c.as_dict() for c in history]}


async def acknowledge_alert(
    store: Store, alert_id: int, *, who: str, comment: str = "", at_ns: int | None = None
) -> dict[str, Any]:
    """Open → acknowledged; the alert with the change made (``change``)."""
    alert = await _get(store, alert_id)
    at = now_ns() if at_ns is None else at_ns
    return await _save(store, acknowledge(alert, who=who, at_ns=at, comment=comment))


async def resolve_alert(
    store: Store, alert_id: int, *, who: str, comment: str = "", at_ns: int | None = None
) -> dict[str, Any]:
    """Open or acknowledged → resolved."""
    alert = await _get(store, alert_id)
    at = now_ns() if at_ns is None else at_ns
    return await _save(store, resolve(alert, who=who, at_ns=at, comment=comment))


async def shelve_alert(
    store: Store,
    alert_id: int,
    *,
    who: str,
    duration_s: float,
    comment: str = "",
    at_ns: int | None = None,
) -> dict[str, Any]:
    """Silence the alert's notifications for ``duration_s`` seconds."""
    alert = await _get(store, alert_id)
    at = now_ns() if at_ns is None else at_ns
    until = at + round(duration_s * 1e9)
    return await _save(store, shelve(alert, who=who, at_ns=at, until_ns=until, comment=comment))


async def unshelve_alert(
    store: Store, alert_id: int, *, who: str, comment: str = "", at_ns: int | None = None
) -> dict[str, Any]:
    """End the alert's shelf now."""
    alert = await _get(store, alert_id)
    at = now_ns() if at_ns is None else at_ns
    return await _save(store, unshelve(alert, who=who, at_ns=at, comment=comment))


async def alert_feedback(
    store: Store,
    alert_id: int,
    verdict: str,
    *,
    who: str,
    comment: str = "",
    fault: str | None = None,
    at_ns: int | None = None,
) -> dict[str, Any]:
    """Record ``confirmed`` or ``false_alarm`` and keep it as a label (``label``).

    ``confirmed`` labels the alert's range ``fault:<fault or the rule's name>``,
    ``false_alarm`` labels it ``healthy``.
    """
    alert = await _get(store, alert_id)
    at = now_ns() if at_ns is None else at_ns
    given, entry = give_feedback(alert, verdict, who=who, at_ns=at, comment=comment)
    label = feedback_label(given, fault=fault)
    if not isinstance(store, AnnotationStore):
        raise StoreError(f"this store ({type(store).__name__}) does not keep labels")
    kept_label = await store.add_annotation(label)
    result = await _save(store, (_with_label(given, kept_label.id), entry))
    return {**result, "label": kept_label.as_dict()}


def _with_label(alert: Alert, label_id: int | None) -> Alert:
    return replace(alert, label_id=label_id)


def summary_rows(alerts: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Table rows (id, state, severity, rule, asset, opened, message) of listed alerts."""
    return [
        (
            a["id"],
            a["state"] + (" (shelved)" if a["shelved_until"] else ""),
            a["severity"],
            a["rule"],
            a["asset"],
            a["opened"],
            a["message"],
        )
        for a in alerts
    ]
