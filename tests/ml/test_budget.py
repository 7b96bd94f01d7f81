"""A false-alarm budget sets the alarm threshold: parsing, per-day conversion, estimates."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import shopfloor.ml.budget as budget_module
from shopfloor.errors import ModelError
from shopfloor.ml.budget import FalseAlarmBudget, budget_quantile, calibrate_to_budget

HOP_NS = 1_000_000_000


def test_examples_run() -> None:
    result = doctest.testmod(budget_module)
    assert result.attempted > 0 and result.failed == 0


def test_a_budget_of_1e_4_on_a_million_healthy_scores_leaves_about_100() -> None:
    scores = np.random.default_rng(3).normal(size=1_000_000)
    t = budget_quantile(scores, 1e-4)
    assert t.method == "empirical quantile" and t.windows == 1_000_000
    assert 90 <= int((scores >= t.threshold).sum()) <= 110


def test_per_day_uses_the_hop() -> None:
    budget = FalseAlarmBudget.parse("2/day")
    assert budget.per_window(HOP_NS) == pytest.approx(2 / 86_400)
    assert budget.per_window(60 * HOP_NS) == pytest.approx(2 / 1440)
    assert FalseAlarmBudget.parse("1 / 10000 windows").per_window(HOP_NS) == 1e-4
    assert str(FalseAlarmBudget.parse("3/d")) == "3/day"


@pytest.mark.parametrize("text", ["", "2", "two/day", "1/0", "0/day", "-1/day", "1/week"])
def test_bad_budgets_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(ModelError, match="budget"):
        FalseAlarmBudget.parse(text)


def test_more_alarms_than_windows_is_refused() -> None:
    with pytest.raises(ModelError, match="fewer alarms than windows"):
        FalseAlarmBudget.parse("100000/day").per_window(HOP_NS)


def test_too_few_windows_for_the_budget_says_how_many() -> None:
    scores = np.random.default_rng(4).normal(size=100)
    with pytest.raises(ModelError, match=r"100 held-back healthy window\(s\).*at least 150"):
        budget_quantile(scores, 1e-3)
    with pytest.raises(ModelError, match="at least"):
        budget_quantile(scores[:50], 1e-2)


def test_a_fitted_tail_extrapolates_beyond_the_largest_score() -> None:
    rng = np.random.default_rng(5)
    healthy = rng.exponential(size=2000)
    t = budget_quantile(healthy, 1e-4)
    assert t.method == "generalized Pareto tail" and t.tail is not None
    assert t.threshold > healthy.max() * 0.8
    # exponential: the true 1 - 1e-4 quantile is ln(1e4) = 9.2
    assert 6.0 < t.threshold < 14.0
    card = t.to_dict()
    assert card["method"] == "generalized Pareto tail" and card["windows"] == 2000


def test_calibrate_to_budget_orders_the_levels() -> None:
    healthy = np.random.default_rng(6).normal(size=20_000)
    thresholds, alarm = calibrate_to_budget(healthy, 1e-3)
    assert thresholds.alarm == alarm.threshold
    assert thresholds.baseline < thresholds.warning <= thresholds.alarm
    constant, _ = calibrate_to_budget(np.zeros(5000), 1e-3)
    assert constant.baseline < constant.warning <= constant.alarm


@given(st.floats(2e-3, 0.2), st.integers(0, 2**32 - 1))
def test_the_empirical_threshold_keeps_to_the_budget(budget: float, seed: int) -> None:
    scores = np.random.default_rng(seed).gamma(2.0, size=5000)
    t = budget_quantile(scores, budget)
    assert np.mean(scores >= t.threshold) <= budget + 1 / scores.size
