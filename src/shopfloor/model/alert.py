"""Alerts and their lifecycle: open → acknowledged → resolved, shelving and feedback.

An :class:`Alert` is one occurrence of a rule's condition on one asset. Every change is a
pure function returning the new alert and the :class:`AlertChange` that records it (who,
when, from which state to which, with a comment), so the history is complete by
construction:

- :func:`raise_alert` opens an alert, or, while one of the same rule and asset is open
  (or acknowledged), updates it: there is never a second open alert per rule and asset;
- :func:`acknowledge` (open → acknowledged), :func:`resolve` (→ resolved; by a person, or
  by the rule when its condition clears);
- :func:`shelve` until a time (a shelved alert sends no notifications), :func:`unshelve`
  (by a person, or when the shelf expires: :meth:`Alert.shelf_expired`);
- :func:`give_feedback`: ``confirmed`` or ``false_alarm`` with a comment;
  :func:`feedback_label` turns it into a label training can use (``fault:<type>`` or
  ``healthy`` over the alert's time range).

A change that does not apply (acknowledging a resolved alert) raises
:class:`~shopfloor.errors.AlertTransitionError`, naming the alert and its state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from shopfloor.errors import AlertTransitionError
from shopfloor.model.annotation import Annotation, validate_label
from shopfloor.model.timestamps import format_ns

__all__ = [
    "SYSTEM",
    "VERDICTS",
    "Alert",
    "AlertChange",
    "AlertState",
    "Verdict",
    "acknowledge",
    "feedback_label",
    "give_feedback",
    "raise_alert",
    "resolve",
    "shelve",
    "unshelve",
]

SYSTEM = "system"
"""Who made a change the platform made itself (raise, auto-resolve, shelf expiry)."""

Verdict = Literal["confirmed", "false_alarm"]
VERDICTS: tuple[Verdict, ...] = ("confirmed", "false_alarm")


class AlertState(StrEnum):
    """Where an alert is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One entry of an alert's history.

    ``action`` is ``raised``, ``updated`` (raised again while open), ``acknowledged``,
    ``resolved``, ``shelved``, ``unshelved``, ``feedback``, or ``written`` /
    ``write_failed`` (a value the alert's rule wrote back to a machine; the state is
    unchanged and the comment says what, where, and what was read back).
    """

    action: str
    at_ns: int
    who: str
    from_state: AlertState | None
    to_state: AlertState
    comment: str = ""
    alert_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, the time as ISO 8601 UTC."""
        return {
            "alert_id": self.alert_id,
            "action": self.action,
            "at": format_ns(self.at_ns),
            "who": self.who,
            "from": None if self.from_state is None else str(self.from_state),
            "to": str(self.to_state),
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """One occurrence of a rule's condition on one asset.

    ``id`` is given by the store (``None`` before it is kept). ``raised_count`` counts how
    often the condition was raised while this alert stayed open. Times are UTC
    nanoseconds.
    """

    rule: str
    asset: str
    severity: str
    message: str
    opened_ns: int
    state: AlertState = AlertState.OPEN
    signal: str | None = None
    value: float | None = None
    updated_ns: int = 0
    resolved_ns: int | None = None
    shelved_until_ns: int | None = None
    raised_count: int = 1
    verdict: Verdict | None = None
    verdict_comment: str = ""
    verdict_by: str = ""
    verdict_ns: int | None = None
    label_id: int | None = None
    id: int | None = None

    @property
    def is_open(self) -> bool:
        """Open or acknowledged: not resolved yet."""
        return self.state is not AlertState.RESOLVED

    def is_shelved(self, now_ns: int) -> bool:
        """Whether it is shelved at ``now_ns`` (a shelved alert sends no notifications)."""
        return self.shelved_until_ns is not None and now_ns < self.shelved_until_ns

    def shelf_expired(self, now_ns: int) -> bool:
        """Whether it was shelved and the shelf's time has passed."""
        return self.shelved_until_ns is not None and now_ns >= self.shelved_until_ns

    def with_id(self, id_: int) -> Alert:
        """The same alert with the store's id."""
        return replace(self, id=id_)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, times as ISO 8601 UTC (``None`` when not set)."""
        out = asdict(self)
        out["state"] = str(self.state)
        times = {
            "opened_ns": "opened",
            "updated_ns": "updated",
            "resolved_ns": "resolved",
            "shelved_until_ns": "shelved_until",
            "verdict_ns": "verdict_at",
        }
        for key, name in times.items():
            value = out.pop(key)
            out[name] = None if value is None else format_ns(value)
        return out


def _change(
    alert: Alert, action: str, at_ns: int, who: str, to: AlertState, comment: str = ""
) -> AlertChange:
    return AlertChange(action, at_ns, who, alert.state, to, comment, alert.id)


def raise_alert(
    current: Alert | None,
    *,
    rule: str,
    asset: str,
    severity: str,
    message: str,
    at_ns: int,
    signal: str | None = None,
    value: float | None = None,
) -> tuple[Alert, AlertChange]:
    """Open an alert, or update ``current`` when it is the rule's open alert on ``asset``.

    Parameters
    ----------
    current
        The open (or acknowledged) alert of ``rule`` on ``asset``, if there is one; a
        resolved one is ignored (a new alert opens).

    Examples
    --------
    >>> a, c = raise_alert(None, rule="hot", asset="acme/p/a/l/c/cnc-1", severity="alarm",
    ...                    message="hot", at_ns=1)
    >>> a2, c2 = raise_alert(a, rule="hot", asset="acme/p/a/l/c/cnc-1", severity="alarm",
    ...                      message="hotter", at_ns=2)
    >>> (c.action, c2.action, a2.raised_count, a2.opened_ns)
    ('raised', 'updated', 2, 1)
    """
    if current is not None and current.is_open:
        if (current.rule, current.asset) != (rule, asset):
            raise AlertTransitionError(
                f"alert {current.id} is of rule {current.rule!r} on {current.asset!r}, "
                f"not of {rule!r} on {asset!r}"
            )
        updated = replace(
            current,
            message=message,
            value=value,
            severity=severity,
            updated_ns=at_ns,
            raised_count=current.raised_count + 1,
        )
        return updated, _change(current, "updated", at_ns, SYSTEM, current.state, message)
    alert = Alert(
        rule=rule,
        asset=asset,
        severity=severity,
        message=message,
        opened_ns=at_ns,
        signal=signal,
        value=value,
        updated_ns=at_ns,
    )
    return alert, AlertChange("raised", at_ns, SYSTEM, None, AlertState.OPEN, message)


def _require_open(alert: Alert, action: str) -> None:
    if not alert.is_open:
        raise AlertTransitionError(
            f"alert {alert.id} ({alert.rule} on {alert.asset}) is resolved: it cannot be {action}"
        )


def acknowledge(
    alert: Alert, *, who: str, at_ns: int, comment: str = ""
) -> tuple[Alert, AlertChange]:
    """Open → acknowledged: someone is on it.

    Raises
    ------
    AlertTransitionError
        When the alert is already acknowledged or resolved.
    """
    _require_open(alert, "acknowledged")
    if alert.state is AlertState.ACKNOWLEDGED:
        raise AlertTransitionError(f"alert {alert.id} ({alert.rule}) is already acknowledged")
    change = _change(alert, "acknowledged", at_ns, who, AlertState.ACKNOWLEDGED, comment)
    return replace(alert, state=AlertState.ACKNOWLEDGED, updated_ns=at_ns), change


def resolve(alert: Alert, *, who: str, at_ns: int, comment: str = "") -> tuple[Alert, AlertChange]:
    """Open or acknowledged → resolved (by a person, or :data:`SYSTEM` when it cleared).

    Raises
    ------
    AlertTransitionError
        When the alert is resolved already.
    """
    _require_open(alert, "resolved")
    change = _change(alert, "resolved", at_ns, who, AlertState.RESOLVED, comment)
    resolved = replace(
        alert, state=AlertState.RESOLVED, updated_ns=at_ns, resolved_ns=at_ns, shelved_until_ns=None
    )
    return resolved, change


def shelve(
    alert: Alert, *, who: str, at_ns: int, until_ns: int, comment: str = ""
) -> tuple[Alert, AlertChange]:
    """Silence an open alert's notifications until ``until_ns`` (shelving again moves it).

    Raises
    ------
    AlertTransitionError
        When the alert is resolved, or ``until_ns`` is not after ``at_ns``.
    """
    _require_open(alert, "shelved")
    if until_ns <= at_ns:
        raise AlertTransitionError(
            f"alert {alert.id}: shelve until {format_ns(until_ns)} is not in the future"
        )
    text = f"until {format_ns(until_ns)}" + (f": {comment}" if comment else "")
    change = _change(alert, "shelved", at_ns, who, alert.state, text)
    return replace(alert, shelved_until_ns=until_ns, updated_ns=at_ns), change


def unshelve(
    alert: Alert, *, who: str = SYSTEM, at_ns: int, comment: str = ""
) -> tuple[Alert, AlertChange]:
    """End the shelf (by a person, or :data:`SYSTEM` when it expired).

    Raises
    ------
    AlertTransitionError
        When the alert is not shelved.
    """
    if alert.shelved_until_ns is None:
        raise AlertTransitionError(f"alert {alert.id} ({alert.rule}) is not shelved")
    change = _change(alert, "unshelved", at_ns, who, alert.state, comment)
    return replace(alert, shelved_until_ns=None, updated_ns=at_ns), change


def give_feedback(
    alert: Alert, verdict: str, *, who: str, at_ns: int, comment: str = ""
) -> tuple[Alert, AlertChange]:
    """Record an operator's verdict: ``confirmed`` or ``false_alarm`` (given again, replaced).

    Raises
    ------
    AlertTransitionError
        When ``verdict`` is neither.
    """
    if verdict not in VERDICTS:
        raise AlertTransitionError(
            f"alert {alert.id}: feedback must be one of {', '.join(VERDICTS)}, got {verdict!r}"
        )
    text = verdict + (f": {comment}" if comment else "")
    change = _change(alert, "feedback", at_ns, who, alert.state, text)
    given = replace(
        alert,
        verdict=verdict,
        verdict_comment=comment,
        verdict_by=who,
        verdict_ns=at_ns,
    )
    return given, change


def feedback_label(alert: Alert, *, fault: str | None = None) -> Annotation:
    """The label an alert's feedback stands for, over the alert's time range.

    ``confirmed`` → ``fault:<fault or the rule's name>``, ``false_alarm`` → ``healthy``;
    the range runs from the opening to the resolution (or to the feedback, while open).

    Raises
    ------
    AlertTransitionError
        When the alert has no feedback, or ``fault`` is not a valid fault type.
    """
    if alert.verdict is None or alert.verdict_ns is None:
        raise AlertTransitionError(f"alert {alert.id} has no feedback to label")
    if alert.verdict == "confirmed":
        label = f"fault:{(fault or alert.rule).lower()}"
        try:
            validate_label(label)
        except ValueError as err:
            raise AlertTransitionError(f"alert {alert.id}: {err}") from err
    else:
        label = "healthy"
    end_ns = alert.resolved_ns if alert.resolved_ns is not None else alert.verdict_ns
    return Annotation(
        asset=alert.asset,
        start_ns=alert.opened_ns,
        end_ns=max(end_ns, alert.opened_ns + 1),
        label=label,
        signal=alert.signal,
        comment=f"alert {alert.id} ({alert.rule}): {alert.verdict_comment}".rstrip(": "),
        created_by=alert.verdict_by,
        created_ns=alert.verdict_ns,
    )
