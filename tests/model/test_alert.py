"""The alert lifecycle: one open alert per rule and asset, history, shelving, feedback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopfloor.errors import AlertTransitionError
from shopfloor.model.alert import (
    SYSTEM,
    Alert,
    AlertState,
    acknowledge,
    feedback_label,
    give_feedback,
    raise_alert,
    resolve,
    shelve,
    unshelve,
)

ASSET = "acme/p1/machining/l1/c1/cnc-01"
S = 1_000_000_000


def opened(at: int = 10 * S) -> Alert:
    alert, _ = raise_alert(
        None,
        rule="spindle_hot",
        asset=ASSET,
        severity="alarm",
        message="hot",
        at_ns=at,
        signal="spindle_temp",
        value=91.0,
    )
    return alert.with_id(7)


def test_open_ack_resolve_with_history() -> None:
    a = opened()
    a, c1 = acknowledge(a, who="ana", at_ns=11 * S, comment="on it")
    assert a.state is AlertState.ACKNOWLEDGED
    assert (c1.from_state, c1.to_state, c1.who, c1.comment) == (
        AlertState.OPEN,
        AlertState.ACKNOWLEDGED,
        "ana",
        "on it",
    )
    a, c2 = resolve(a, who="ana", at_ns=12 * S)
    assert a.state is AlertState.RESOLVED and a.resolved_ns == 12 * S
    assert c2.alert_id == 7 and c2.action == "resolved"
    with pytest.raises(AlertTransitionError, match="alert 7"):
        acknowledge(a, who="bo", at_ns=13 * S)
    with pytest.raises(AlertTransitionError):
        resolve(a, who="bo", at_ns=13 * S)


def test_a_repeat_raise_updates_the_open_alert() -> None:
    a = opened()
    a2, change = raise_alert(
        a,
        rule="spindle_hot",
        asset=ASSET,
        severity="critical",
        message="hotter",
        at_ns=20 * S,
        value=99.0,
    )
    assert a2.id == 7 and a2.raised_count == 2 and a2.opened_ns == a.opened_ns
    assert change.action == "updated" and a2.value == 99.0
    resolved, _ = resolve(a2, who=SYSTEM, at_ns=30 * S)
    fresh, change = raise_alert(
        resolved, rule="spindle_hot", asset=ASSET, severity="alarm", message="again", at_ns=40 * S
    )
    assert fresh.id is None and change.action == "raised"


def test_shelving_expires() -> None:
    a, change = shelve(opened(), who="ana", at_ns=11 * S, until_ns=20 * S, comment="maintenance")
    assert a.is_shelved(15 * S) and not a.shelf_expired(15 * S)
    assert a.shelf_expired(20 * S) and not a.is_shelved(20 * S)
    assert "maintenance" in change.comment
    a, change = unshelve(a, at_ns=20 * S)
    assert a.shelved_until_ns is None and change.who == SYSTEM
    with pytest.raises(AlertTransitionError, match="not shelved"):
        unshelve(a, at_ns=21 * S)
    with pytest.raises(AlertTransitionError, match="future"):
        shelve(a, who="ana", at_ns=30 * S, until_ns=30 * S)


def test_feedback_becomes_a_label_over_the_alert_range() -> None:
    a, _ = resolve(opened(), who=SYSTEM, at_ns=50 * S)
    a, _ = give_feedback(a, "confirmed", who="ana", at_ns=60 * S, comment="bearing hot")
    label = feedback_label(a, fault="bearing_overheat")
    assert (label.label, label.start_ns, label.end_ns) == ("fault:bearing_overheat", 10 * S, 50 * S)
    assert label.asset == ASSET and label.signal == "spindle_temp" and label.created_by == "ana"
    assert feedback_label(a).label == "fault:spindle_hot"
    a, _ = give_feedback(a, "false_alarm", who="bo", at_ns=70 * S)
    assert feedback_label(a).label == "healthy"
    with pytest.raises(AlertTransitionError, match="feedback must be one of"):
        give_feedback(a, "maybe", who="bo", at_ns=80 * S)
    with pytest.raises(AlertTransitionError, match="not valid"):
        feedback_label(give_feedback(a, "confirmed", who="bo", at_ns=80 * S)[0], fault="Bad Type!")


def test_open_alert_feedback_ends_at_the_feedback() -> None:
    a, _ = give_feedback(opened(), "false_alarm", who="ana", at_ns=10 * S)
    label = feedback_label(a)
    assert label.end_ns == label.start_ns + 1  # never an empty range


ops = st.lists(st.sampled_from(["raise", "ack", "resolve", "shelve", "unshelve"]), max_size=30)


@given(ops)
def test_every_change_is_recorded_and_states_follow_the_lifecycle(names: list[str]) -> None:
    alert: Alert | None = None
    history = []
    for t, name in enumerate(names, 1):
        try:
            if name == "raise":
                alert, change = raise_alert(
                    alert, rule="r", asset=ASSET, severity="warning", message="m", at_ns=t
                )
            elif alert is None:
                continue
            elif name == "ack":
                alert, change = acknowledge(alert, who="x", at_ns=t)
            elif name == "resolve":
                alert, change = resolve(alert, who="x", at_ns=t)
            elif name == "shelve":
                alert, change = shelve(alert, who="x", at_ns=t, until_ns=t + 5)
            else:
                alert, change = unshelve(alert, at_ns=t)
        except AlertTransitionError:
            continue
        history.append(change)
        assert change.to_state is alert.state
        if change.from_state is AlertState.RESOLVED:
            raise AssertionError("a resolved alert changed")
