"""Threshold calibration, persistence across gaps, hysteresis and the health index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopfloor.errors import ModelError
from shopfloor.ml.calibration import (
    Thresholds,
    alert_states,
    calibrate,
    health_index,
    run_starts,
)

HOP = 1_000_000_000
TH = Thresholds(baseline=0.0, warning=2.0, alarm=4.0, hysteresis=0.25)


def test_calibrated_alarm_respects_the_budget_on_new_healthy_data() -> None:
    rng = np.random.default_rng(1)
    th = calibrate(rng.normal(size=20_000), alarm_budget=1e-3, warning_budget=1e-2)
    fresh = rng.normal(size=200_000)
    assert np.mean(fresh >= th.alarm) <= 1e-3
    assert np.mean(fresh >= th.warning) <= 1e-2
    assert th.baseline < th.warning < th.alarm


def test_calibration_ignores_nan_and_refuses_too_few_scores() -> None:
    scores = np.r_[np.random.default_rng(2).normal(size=100), [np.nan] * 10]
    assert np.isfinite(calibrate(scores).alarm)
    with pytest.raises(ModelError, match="held-back healthy"):
        calibrate([1.0, 2.0, np.nan])
    with pytest.raises(ModelError, match="alarm_budget"):
        calibrate(scores, alarm_budget=0.1, warning_budget=0.01)


def test_calibration_of_constant_scores_still_orders_the_levels() -> None:
    th = calibrate(np.zeros(50))
    assert th.baseline < th.warning <= th.alarm


def test_persistence_needs_k_of_n() -> None:
    t0 = np.arange(6) * HOP
    states = alert_states([5, 0, 5, 0, 0, 0], t0, HOP, TH, k=3, n=4)
    assert "alarm" not in states.tolist()
    states = alert_states([5, 0, 5, 5, 0, 0], t0, HOP, TH, k=3, n=4)
    assert states.tolist()[3] == "alarm"


def test_a_data_gap_resets_the_persistence_count() -> None:
    scores = [5.0, 5.0, 5.0, 5.0]
    consecutive = np.array([0, 1, 2, 3]) * HOP
    with_gap = np.array([0, 1, 10, 11]) * HOP  # two windows, a gap, two windows
    assert alert_states(scores, consecutive, HOP, TH, k=3, n=3).tolist()[2] == "alarm"
    assert alert_states(scores, with_gap, HOP, TH, k=3, n=3).tolist() == ["normal"] * 4


def test_a_gap_also_drops_a_raised_level() -> None:
    t0 = np.array([0, 1, 2, 50, 51]) * HOP
    states = alert_states([5, 5, 5, 3.5, 3.5], t0, HOP, TH, k=2, n=2).tolist()
    assert states == ["normal", "alarm", "alarm", "normal", "warning"]


def test_hysteresis_keeps_a_level_until_the_score_drops_below_the_clear_level() -> None:
    t0 = np.arange(6) * HOP
    # alarm at 4 clears below 4 - 0.25 * 4 = 3; warning at 2 clears below 1.5
    states = alert_states([5, 5, 3.5, 3.1, 2.9, 1.0], t0, HOP, TH, k=2, n=2).tolist()
    assert states == ["normal", "alarm", "alarm", "alarm", "warning", "normal"]


def test_nan_score_is_unknown_and_does_not_clear() -> None:
    t0 = np.arange(5) * HOP
    states = alert_states([5, 5, np.nan, 5, 0], t0, HOP, TH, k=2, n=2).tolist()
    assert states == ["normal", "alarm", "unknown", "alarm", "normal"]


def test_alert_states_refuses_bad_input() -> None:
    with pytest.raises(ModelError, match="increase"):
        alert_states([1, 2], [5, 5], HOP, TH)
    with pytest.raises(ModelError, match="k ≤ n"):
        alert_states([1, 2], [0, 1], HOP, TH, k=3, n=2)
    with pytest.raises(ModelError, match="scores for"):
        alert_states([1, 2, 3], [0, 1], HOP, TH)
    with pytest.raises(ModelError, match="baseline < warning"):
        Thresholds(baseline=1.0, warning=0.5, alarm=2.0)


def test_run_starts() -> None:
    assert run_starts([0, 1, 2, 4, 5], 1).tolist() == [True, False, False, True, False]
    assert run_starts([], 1).tolist() == []


def test_health_index_reads_like_a_gauge() -> None:
    hi = health_index(np.array([-1.0, 0.0, 2.0, 4.0, 8.0, 100.0, np.nan]), TH)
    assert hi[:6].tolist() == [100.0, 100.0, 75.0, 50.0, 0.0, 0.0]
    assert np.isnan(hi[6])


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=50))
def test_health_index_is_monotone(values: list[float]) -> None:
    s = np.sort(np.asarray(values))
    hi = health_index(s, TH)
    assert (np.diff(hi) <= 0).all() and ((hi >= 0) & (hi <= 100)).all()


@given(
    st.lists(st.one_of(st.floats(0, 10), st.just(float("nan"))), min_size=1, max_size=40),
    st.lists(st.integers(1, 3), min_size=40, max_size=40),
    st.integers(1, 4),
    st.integers(0, 3),
)
def test_states_match_a_window_by_window_reference(
    scores: list[float], steps: list[int], n: int, k_less: int
) -> None:
    k = max(1, n - k_less)
    t0 = np.cumsum(steps[: len(scores)]) * HOP
    got = alert_states(scores, t0, HOP, TH, k=k, n=n).tolist()
    assert got == _reference(scores, t0.tolist(), k, n)


def _reference(scores: list[float], t0: list[int], k: int, n: int) -> list[str]:
    """The rules of alert_states written as a plain loop over windows."""
    out: list[str] = []
    history: list[float] = []
    on = {2.0: False, 4.0: False}
    for i, s in enumerate(scores):
        if i == 0 or t0[i] - t0[i - 1] > HOP:
            history, on = [], {2.0: False, 4.0: False}
        history = [*history, s][-n:]
        for level in on:
            if s == s and s >= level and sum(h >= level for h in history if h == h) >= k:
                on[level] = True
            elif s == s and s < TH.clear_level(level):
                on[level] = False
        if s != s:
            out.append("unknown")
        else:
            out.append("alarm" if on[4.0] else "warning" if on[2.0] else "normal")
    return out
