"""Alert persistence counts consecutive windows only: a data gap starts it again."""

from __future__ import annotations

from typing import Any

import numpy as np

from shopfloor.model import Provenance, SignalRef
from shopfloor.pipelines.frames import FeatureFrame
from shopfloor.pipelines.outputs import AlertOutput

A = "acme/plant1/machining/line1/cell1/m1"
S = 10**9


def alert(hop_ns: int | None) -> AlertOutput:
    return AlertOutput(
        column="score",
        signal=SignalRef(A, "p.alert"),
        above=2.0,
        below=None,
        clear=1.5,
        for_s=2.0,  # three consecutive 1 s windows above
        clear_for_s=2.0,
        severity="alarm",
        name="p.score",
        provenance=Provenance("pipeline:p", "p"),
        hop_ns=hop_ns,
    )


def frame(starts_s: list[int], values: list[float]) -> FeatureFrame:
    t0 = np.asarray(starts_s, dtype=np.int64) * S
    return FeatureFrame(t0, t0 + S, {"score": np.asarray(values, dtype=np.float64)}, {})


def kinds(events: list[Any]) -> list[tuple[str, int]]:
    return [(e.kind, e.ts_ns // S) for e in events]


def test_consecutive_windows_raise_after_for_s() -> None:
    events = alert(S).evaluate(frame([0, 1, 2, 3], [3, 3, 3, 3]))
    assert kinds(events) == [("alert_raised", 2)]


def test_windows_across_a_gap_are_not_consecutive() -> None:
    # two windows above, an hour without data, two windows above: never three in a row
    events = alert(S).evaluate(frame([0, 1, 3600, 3601], [3, 3, 3, 3]))
    assert events == []
    # before the fix the pending time ran across the gap and raised at 3600


def test_the_gap_is_found_across_frames_and_with_a_learned_hop() -> None:
    for rule in (alert(S), alert(None)):
        assert rule.evaluate(frame([0, 1], [3, 3])) == []
        assert rule.evaluate(frame([7200, 7201], [3, 3])) == []
        assert kinds(rule.evaluate(frame([7202], [3]))) == [("alert_raised", 7202)]


def test_clearing_also_restarts_after_a_gap() -> None:
    rule = alert(S)
    rule.evaluate(frame([0, 1, 2], [3, 3, 3]))
    assert rule.active
    events = rule.evaluate(frame([3, 4, 100, 101, 102], [1, 1, 1, 1, 1]))
    assert kinds(events) == [("alert_cleared", 102)]
