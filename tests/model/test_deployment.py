"""The deployment lifecycle: deploy, swap, mode change, rollback, stop; each one audited."""

from __future__ import annotations

import pytest

from shopfloor.errors import DeploymentError
from shopfloor.model.deployment import Deployment, deploy, parse_ref, rollback, source_of, stop

A = "acme/p1/area/line/cell/m1"


def _deploy(current: Deployment | None, version: int, mode: str = "active", at: int = 0):  # type: ignore[no-untyped-def]
    return deploy(
        current,
        name="spindle",
        asset=A,
        model="spindle",
        version=version,
        mode=mode,  # type: ignore[arg-type]
        pipeline="vib",
        who="ana",
        at_ns=at,
        reason="why",
    )


def test_deploy_swap_rollback_stop_and_redeploy() -> None:
    d1, c1 = _deploy(None, 1)
    assert c1 is not None and (c1.action, c1.from_ref, c1.to_ref) == ("deploy", None, "spindle@1")
    d2, c2 = _deploy(d1, 2, at=1)
    assert c2 is not None and (c2.action, c2.from_ref, c2.to_ref) == (
        "swap",
        "spindle@1",
        "spindle@2",
    )
    assert d2.previous == ("spindle@1",) and d2.changed_ns == 1
    d3, _ = _deploy(d2, 3, at=2)
    assert d3.previous == ("spindle@1", "spindle@2")
    back, change = rollback(d3, who="bo", at_ns=3, reason="false alarms")
    assert back.ref == "spindle@2" and back.previous == ("spindle@1",)
    assert (change.action, change.from_ref, change.to_ref, change.who) == (
        "rollback",
        "spindle@3",
        "spindle@2",
        "bo",
    )
    back2, _ = rollback(back, who="bo", at_ns=4)
    assert back2.ref == "spindle@1" and back2.previous == ()
    with pytest.raises(DeploymentError, match="no earlier version"):
        rollback(back2, who="bo", at_ns=5)
    stopped, change = stop(back2, who="bo", at_ns=6)
    assert not stopped.running and change.action == "stop" and change.to_ref is None
    with pytest.raises(DeploymentError, match="is stopped"):
        stop(stopped, who="bo", at_ns=7)
    again, change2 = _deploy(stopped, 1, at=8)
    assert again.running and change2 is not None and change2.action == "deploy"


def test_deploying_what_runs_changes_nothing_and_a_mode_change_is_its_own_action() -> None:
    d1, _ = _deploy(None, 1, mode="shadow")
    same, none = _deploy(d1, 1, mode="shadow")
    assert none is None and same == d1
    active, change = _deploy(d1, 1, mode="active")
    assert change is not None and change.action == "mode" and active.previous == ()
    assert active.active and not d1.active


def test_records_round_trip_and_bad_input_is_refused() -> None:
    d, c = _deploy(None, 4)
    assert Deployment.from_dict(d.as_dict()) == d
    assert c is not None and type(c).from_dict(c.as_dict()) == c
    assert parse_ref("a-b@12") == ("a-b", 12)
    with pytest.raises(DeploymentError, match="name@number"):
        parse_ref("spindle@prod")
    with pytest.raises(DeploymentError, match="deployment name"):
        Deployment("bad/name", A, "m", 1, "active", "p")
    with pytest.raises(DeploymentError, match="shadow or active"):
        Deployment("ok", A, "m", 1, "loud", "p")  # type: ignore[arg-type]
    assert source_of("x", "shadow").startswith("shadow:") and source_of("x", "active") == (
        "deployment:x"
    )
