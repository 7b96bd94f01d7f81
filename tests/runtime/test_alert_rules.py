"""Rules on values: threshold, rate of change, stale, defect rate; batching never matters."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shopfloor.config import load_project
from shopfloor.errors import ConfigError
from shopfloor.model.condition import Transition
from shopfloor.runtime.alerts.rules import Firing, RuleState
from shopfloor.runtime.config import AlertRuleConfig

SIGNAL = "acme/plant1/machining/line1/cell1/cnc-01/spindle_temperature"
S = 1_000_000_000


def state(**kw: Any) -> RuleState:
    return RuleState(AlertRuleConfig.model_validate({"name": "r", "signal": SIGNAL, **kw}))


def feed_all(rs: RuleState, ts: list[int], vs: list[float], cuts: list[int]) -> list[Firing]:
    out: list[Firing] = []
    bounds = [0, *sorted(set(cuts)), len(ts)]
    for a, b in itertools.pairwise(bounds):
        out += rs.feed(ts[a:b], vs[a:b], 0)
    return out


def test_threshold_below_with_hysteresis() -> None:
    rs = state(condition="below", threshold=10, hysteresis=2)
    fired = rs.feed([0, S, 2 * S, 3 * S], [9.0, 11.0, 12.5, 13.0], 0)
    assert [(f.transition, f.t_ns) for f in fired] == [
        (Transition.RAISED, 0),
        (Transition.CLEARED, 2 * S),
    ]


def test_rate_of_change_over_a_window() -> None:
    rs = state(kind="rate_of_change", threshold=2.0, window_s=2)
    # 1 unit/s, then 5 units/s
    fired = rs.feed([0, S, 2 * S, 3 * S, 4 * S], [0.0, 1.0, 2.0, 7.0, 12.0], 0)
    assert fired[0].transition is Transition.RAISED and fired[0].t_ns == 3 * S
    assert math.isclose(fired[0].value or 0.0, 3.0)  # (7 - 1) / 2 s: the oldest in the window
    assert rs.feed([5 * S], [float("nan")], 0)[0].transition is Transition.UNKNOWN
    assert rs.feed([6 * S], [12.0], 0) == []  # one value in the fresh window: no opinion
    assert rs.feed([7 * S], [12.0], 0)[0].transition is Transition.CLEARED


def test_redelivered_values_are_skipped() -> None:
    rs = state(threshold=1, for_s=1)
    assert rs.feed([0, S], [5.0, 5.0], 0)[0].transition is Transition.RAISED
    assert rs.feed([0, S], [0.0, 0.0], 0) == []
    assert rs.persistence.active


def test_stale_counts_from_start_then_from_arrivals() -> None:
    rs = state(kind="stale", stale_s=5)
    rs.started_ns = 0
    assert rs.tick(5 * S) == []
    (raised,) = rs.tick(6 * S)
    assert raised.transition is Transition.RAISED and raised.value == 6.0
    assert rs.tick(7 * S) == []  # once
    (cleared,) = rs.feed([123], [1.0], 8 * S)
    assert cleared.transition is Transition.CLEARED and cleared.t_ns == 8 * S
    assert rs.tick(12 * S) == [] and rs.tick(14 * S)[0].transition is Transition.RAISED


def test_defect_rate_over_the_last_parts() -> None:
    rs = state(kind="defect_rate", threshold=0.25, window_n=4, hysteresis=0.05)
    nan = float("nan")
    # good, defect, uncertain (not counted), unknown (not counted), good, defect
    assert rs.feed([1, 2, 3, 4, 5], [0.0, 2.0, 1.0, nan, 0.0], 0) == []  # 3 known < window
    (raised,) = rs.feed([6], [2.0], 0)  # 2 of 4 defective
    assert raised.transition is Transition.RAISED and raised.value == 0.5
    assert rs.feed([7, 8, 9], [0.0, 0.0, 0.0], 0) == []  # 2, 1, 1 of 4: not below 20 %
    (cleared,) = rs.feed([10], [0.0], 0)  # 0 of 4
    assert cleared.transition is Transition.CLEARED and cleared.t_ns == 10


def test_defect_rate_over_time() -> None:
    rs = state(kind="defect_rate", threshold=0.5, window_s=2, min_values=2)
    assert rs.feed([0], [2.0], 0) == []  # one part: too few to judge
    assert rs.feed([S], [2.0], 0)[0].transition is Transition.RAISED
    # the two defects leave the window: only good parts in the last 2 s
    assert rs.feed([4 * S, 5 * S], [0.0, 0.0], 0)[0].transition is Transition.CLEARED


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"kind": "defect_rate", "threshold": 0.1}, "exactly one of 'window_n' or 'window_s'"),
        ({"kind": "defect_rate", "threshold": 10, "window_n": 5}, "share of items from 0 to 1"),
        ({"kind": "defect_rate", "window_n": 5}, "needs 'threshold'"),
        ({"kind": "defect_rate", "threshold": 0.1, "window_n": 5, "min_values": 9}, "more than"),
        ({"threshold": 1, "window_n": 5}, "'window_n' is for defect_rate rules"),
    ],
)
def test_defect_rate_rules_are_checked(params: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        AlertRuleConfig.model_validate({"name": "r", "signal": SIGNAL, **params})


def test_validate_names_the_line_of_a_defect_rate_typo(tmp_path: Path) -> None:
    (tmp_path / "factory.yaml").write_text(
        "project: {name: t}\n"
        "alert_rules:\n"
        "  - {name: r, deployment: qc, kind: defect_rate, threshold: 0.1, window_n: 5}\n"
        "  - {name: s, deployment: qc, kind: defect_rate, threshold: 0.1, windows_n: 5}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_project(tmp_path)
    text = "\n".join(err.value.issues)
    assert "factory.yaml:4: alert_rules[1].windows_n" in text


def test_defect_rate_on_a_deployment_reads_its_state() -> None:
    rule = AlertRuleConfig.model_validate(
        {"name": "r", "deployment": "qc", "kind": "defect_rate", "threshold": 0.1, "window_n": 9}
    )
    assert rule.output == "state" and rule.least_values == 9
    with pytest.raises(ValidationError, match="counts the deployment's state"):
        AlertRuleConfig.model_validate({**rule.model_dump(), "output": "confidence"})


values = st.lists(st.one_of(st.floats(-50, 50), st.just(float("nan"))), min_size=1, max_size=80)


@given(
    values,
    st.lists(st.integers(0, 80), max_size=10),
    st.sampled_from(
        [
            {"threshold": 10, "hysteresis": 3, "for_s": 2},
            {"condition": "below", "threshold": -5, "for_s": 0, "clear_for_s": 3},
            {"kind": "rate_of_change", "threshold": 8, "window_s": 3, "hysteresis": 2},
            {"kind": "defect_rate", "threshold": 0.3, "window_n": 5, "for_s": 1},
            {"kind": "defect_rate", "threshold": 0.5, "window_s": 4, "hysteresis": 0.1},
        ]
    ),
)
def test_batching_does_not_change_firings(
    vs: list[float], cuts: list[int], params: dict[str, Any]
) -> None:
    ts = [i * S // 2 for i in range(len(vs))]
    whole = feed_all(state(**params), ts, vs, [])
    chunked = feed_all(state(**params), ts, vs, [c for c in cuts if c < len(vs)])
    assert whole == chunked
    for f in whole:
        if f.transition is Transition.CLEARED:
            assert f.value is not None and math.isfinite(f.value)  # never cleared by a NaN
