"""What a person does with alerts: list, show, acknowledge, resolve, shelve, give feedback.

Shared by the CLI (``shopfloor alerts``) and, later, the API and Studio. Each function
takes the project's store (an :class:`~shopfloor.store.AlertStore`) and makes its change
through the pure lifecycle (:mod:`shopfloor.model.alert`), so the change is kept with its
history entry. Feedback is also kept as a label (``fault:<type>`` or ``healthy`` over the
alert's time range) that training can use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, replace
from typing import Any

from shopfloor.errors import AlertNotFound, ConfigError, StoreError
from shopfloor.model import now_ns, parse_duration_s
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
from shopfloor.services.listing import Listing
from shopfloor.services.options import option
from shopfloor.store import Store
from shopfloor.store.protocol import AlertStore, AnnotationStore

__all__ = [
    "ACTIONS",
    "STATE_FILTERS",
    "AlertChangeOptions",
    "AlertListOptions",
    "FeedbackOptions",
    "ShelveOptions",
    "alert_counts",
    "alert_lines",
    "alerts_listing",
    "change_alert",
    "change_lines",
    "list_alerts",
    "show_alert",
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


@dataclass(frozen=True, kw_only=True)
class AlertListOptions:
    """Which alerts (``shopfloor alerts list``)."""

    state: str = option(
        "active", "active (open or acknowledged), open, acknowledged, resolved, all."
    )
    asset: str | None = option(None, "This asset and those below it.")
    rule: str | None = option(None, "Only this rule's alerts.")
    severity: str | None = option(None, "Only this severity (info, warning, alarm).")
    limit: int = option(100, "At most this many, newest first.", min=1)


@dataclass(frozen=True, kw_only=True)
class AlertChangeOptions:
    """Which alert, why and by whom (``ack``, ``resolve``, ``unshelve``)."""

    alert_id: int = option(MISSING, "The alert's id (see 'shopfloor alerts list').")
    comment: str = option("", "Why, in words.", param_decls=("--comment", "-m"))
    by: str | None = option(None, "Who makes the change (default: your login name).")


@dataclass(frozen=True, kw_only=True)
class ShelveOptions(AlertChangeOptions):
    """An alert to shelve, and for how long (``shopfloor alerts shelve``)."""

    for_: str = option(
        "1h", "How long: 30min, 2h, 1d (notifications are held).", param_decls=("--for",)
    )


@dataclass(frozen=True, kw_only=True)
class FeedbackOptions(AlertChangeOptions):
    """Whether an alert was right (``shopfloor alerts feedback``)."""

    verdict: str = option(MISSING, "confirmed or false_alarm.")
    fault: str | None = option(None, "The fault type of a confirmed alert (default: the rule).")


ACTIONS: dict[str, tuple[type[AlertChangeOptions], str]] = {
    "ack": (AlertChangeOptions, "Acknowledge alert ALERT_ID: someone is on it."),
    "resolve": (AlertChangeOptions, "Resolve alert ALERT_ID."),
    "shelve": (ShelveOptions, "Shelve alert ALERT_ID: no notifications until the shelf expires."),
    "unshelve": (AlertChangeOptions, "End the shelf of alert ALERT_ID now."),
    "feedback": (
        FeedbackOptions,
        "Say whether alert ALERT_ID was right; kept as a label (fault:<type> or healthy).",
    ),
}
"""The changes a person makes to an alert: options and what each does."""


async def list_alerts(store: Store, o: AlertListOptions) -> list[dict[str, Any]]:
    """Alerts newest first (``o.state``: one of :data:`STATE_FILTERS`), as JSON-able dicts."""
    if o.state not in STATE_FILTERS:
        raise ConfigError(f"--state must be one of {', '.join(STATE_FILTERS)}, got {o.state!r}")
    found = await _alerts(store).list_alerts(
        states=STATE_FILTERS[o.state],
        asset=o.asset,
        rule=o.rule,
        limit=None if o.severity else o.limit,
    )
    if o.severity:
        found = [a for a in found if a.severity == o.severity][: o.limit]
    return [a.as_dict() for a in found]


async def alert_counts(store: Store) -> dict[tuple[str, str], int]:
    """How many alerts there are of each (state, severity)."""
    counts: dict[tuple[str, str], int] = {}
    for alert in await _alerts(store).list_alerts():
        key = (str(alert.state), alert.severity)
        counts[key] = counts.get(key, 0) + 1
    return counts


async def show_alert(store: Store, alert_id: int) -> dict[str, Any]:
    """One alert with its history (``history``: every change, oldest first)."""
    alert = await _get(store, alert_id)
    history = await _alerts(store).alert_history(alert_id)
    return {**alert.as_dict(), "history": [c.as_dict() for c in history]}


async def change_alert(
    store: Store, action: str, o: AlertChangeOptions, *, who: str, at_ns: int | None = None
) -> dict[str, Any]:
    """Make change ``action`` (one of :data:`ACTIONS`) to alert ``o.alert_id``.

    ``who`` is ``o.by`` when given. Returns the alert with the change made (``change``);
    feedback also returns the label it was kept as (``label``): ``confirmed`` labels the
    alert's range ``fault:<o.fault or the rule's name>``, ``false_alarm`` ``healthy``.

    Raises
    ------
    ConfigError
        An unknown action, verdict or shelf duration.
    AlertNotFound
        No alert with that id.
    """
    if action not in ACTIONS:
        raise ConfigError(f"unknown alert action {action!r} (known: {', '.join(ACTIONS)})")
    who = o.by or who
    at = now_ns() if at_ns is None else at_ns
    if isinstance(o, FeedbackOptions) and o.verdict not in ("confirmed", "false_alarm"):
        raise ConfigError(f"VERDICT must be confirmed or false_alarm, got {o.verdict!r}")
    if isinstance(o, ShelveOptions):
        try:
            until = at + round(parse_duration_s(o.for_) * 1e9)
        except ValueError as err:
            raise ConfigError(f"--for: {err}") from err
    alert = await _get(store, o.alert_id)
    if isinstance(o, FeedbackOptions):
        given, entry = give_feedback(alert, o.verdict, who=who, at_ns=at, comment=o.comment)
        if not isinstance(store, AnnotationStore):
            raise StoreError(f"this store ({type(store).__name__}) does not keep labels")
        label = await store.add_annotation(feedback_label(given, fault=o.fault))
        result = await _save(store, (_with_label(given, label.id), entry))
        return {**result, "label": label.as_dict()}
    if isinstance(o, ShelveOptions):
        return await _save(
            store, shelve(alert, who=who, at_ns=at, until_ns=until, comment=o.comment)
        )
    changes: dict[str, Callable[..., tuple[Alert, AlertChange]]] = {
        "ack": acknowledge,
        "resolve": resolve,
        "unshelve": unshelve,
    }
    change = changes[action]
    return await _save(store, change(alert, who=who, at_ns=at, comment=o.comment))


def _with_label(alert: Alert, label_id: int | None) -> Alert:
    return replace(alert, label_id=label_id)


def alerts_listing(alerts: Sequence[dict[str, Any]], state: str) -> Listing:
    """Listed alerts as a table: id, state, severity, rule, asset, opened, message."""
    rows = [
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
    columns = ("id", "state", "severity", "rule", "asset", "opened", "message")
    return Listing(f"{len(rows)} {state} alert(s)", columns, rows)


def alert_lines(result: dict[str, Any]) -> tuple[list[str], Listing]:
    """One alert (:func:`show_alert`) in words, then its history as a table."""
    always = ("id", "rule", "asset", "signal", "severity", "state", "message", "value")
    when_set = ("opened", "resolved", "shelved_until", "verdict", "verdict_comment")
    lines = [f"{key}: {result[key]}" for key in always]
    lines += [f"{key}: {result[key]}" for key in when_set if result[key]]
    rows = [
        (c["at"], c["action"], c["who"], c["from"] or "-", c["to"], c["comment"])
        for c in result["history"]
    ]
    return lines, Listing("history", ("at", "action", "who", "from", "to", "comment"), rows)


def change_lines(result: dict[str, Any]) -> list[str]:
    """What :func:`change_alert` did, in words."""
    change = result["change"]
    shelved = f", shelved until {result['shelved_until']}" if result["shelved_until"] else ""
    lines = [
        f"alert {result['id']} ({result['rule']} on {result['asset']}): {change['action']} "
        f"by {change['who']}; now {result['state']}{shelved}"
    ]
    if "label" in result:
        label = result["label"]
        lines.append(f"labelled {label['label']} from {label['from']} to {label['to']}")
    return lines
