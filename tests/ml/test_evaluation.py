"""Run-to-failure and labelled evaluation metrics (shopfloor.ml.evaluation)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import shopfloor.ml.evaluation as evaluation
from shopfloor.errors import ModelError
from shopfloor.ml.evaluation import (
    alarm_episodes,
    classification_metrics,
    detection_metrics,
    run_to_failure_metrics,
)


def test_examples_run():
    result = doctest.testmod(evaluation, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_lead_time_counts_from_first_alarm_after_half_life():
    t = np.arange(0.0, 100.0, 10.0)  # 0..90 s, due at 45 s
    alarm = np.zeros(10, bool)
    alarm[[1, 2]] = True  # one false episode of two windows
    alarm[7:] = True
    m = run_to_failure_metrics(t, alarm)
    assert m.due_s == 45.0
    assert m.first_alarm_s == 70.0 and m.first_any_alarm_s == 10.0
    assert m.lead_time_s == 20.0
    assert (m.false_alarm_windows, m.false_alarm_episodes) == (2, 1)
    assert m.windows_before_due == 5
    assert m.lead_fraction == pytest.approx(20 / 90)


def test_no_alarm_gives_zero_lead_and_none():
    m = run_to_failure_metrics([0.0, 1.0, 2.0], [False, False, False])
    assert m.first_alarm_s is None and m.first_any_alarm_s is None
    assert m.lead_time_s == 0.0 and m.false_alarm_episodes == 0


def test_explicit_failure_and_due_times():
    m = run_to_failure_metrics([0.0, 1.0, 2.0, 3.0], [0, 1, 1, 1], failure_s=10.0, due_s=0.5)
    assert m.first_alarm_s == 1.0 and m.lead_time_s == 9.0 and m.false_alarm_windows == 0
    assert m.to_dict()["life_s"] == 10.0


def test_an_episode_crossing_the_due_time_is_false_and_no_warning():
    m = run_to_failure_metrics(np.arange(10.0), np.arange(10) >= 3)
    assert m.false_alarm_episodes == 1 and m.first_alarm_s is None and m.lead_time_s == 0.0
    later = np.arange(10) >= 3
    later[6] = False
    m = run_to_failure_metrics(np.arange(10.0), later)
    assert m.first_alarm_s == 7.0 and m.lead_time_s == 2.0


@pytest.mark.parametrize(
    ("times", "alarm", "kwargs"),
    [
        ([], [], {}),
        ([0.0, 1.0], [True], {}),
        ([0.0, 0.0], [True, True], {}),
        ([0.0, 1.0], [True, True], {"failure_s": -1.0}),
        ([0.0, 1.0], [True, True], {"due_fraction": 1.5}),
        ([[0.0, 1.0]], [[True, True]], {}),
    ],
)
def test_bad_run_input_is_refused(times, alarm, kwargs):
    with pytest.raises(ModelError):
        run_to_failure_metrics(times, alarm, **kwargs)


@given(st.lists(st.booleans(), max_size=50))
def test_episodes_are_rising_edges(values):
    starts = alarm_episodes(values)
    a = np.asarray(values, bool)
    for i in starts:
        assert a[i] and (i == 0 or not a[i - 1])
    expected = [i for i, v in enumerate(values) if v and (i == 0 or not values[i - 1])]
    assert list(starts) == expected


def test_detection_metrics_match_a_perfect_and_a_chance_score():
    y = np.r_[np.zeros(50), np.ones(50)]
    perfect = detection_metrics(y, y + 0.1 * np.arange(100) / 100)
    assert perfect.auroc == 1.0 and perfect.pr_auc == 1.0
    reversed_ = detection_metrics(y, -y)
    assert reversed_.auroc == 0.0


def test_detection_metrics_leave_unknown_out():
    m = detection_metrics([0, 1, 1, 0], [0.1, np.nan, 0.9, 0.2])
    assert m.n_unknown == 1 and m.n_positive == 1 and m.n_negative == 2 and m.auroc == 1.0


def test_detection_metrics_need_both_labels():
    with pytest.raises(ModelError, match="both labels"):
        detection_metrics([1, 1], [0.1, 0.2])
    with pytest.raises(ModelError):
        detection_metrics([1, 0], [0.1])


def test_classification_metrics():
    m = classification_metrics(
        ["IR", "IR", "OR", "B", "B"], ["IR", "OR", "OR", "B", "IR"], labels=["IR", "OR", "B"]
    )
    assert m.confusion == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert m.recall == {"IR": 0.5, "OR": 1.0, "B": 0.5}
    assert m.accuracy == pytest.approx(3 / 5)
    assert m.balanced_accuracy == pytest.approx(2 / 3)


def test_classification_metrics_absent_class_recall_is_nan():
    m = classification_metrics(["a"], ["a"], labels=["a", "b"])
    assert math.isnan(m.recall["b"]) and m.to_dict()["recall"]["b"] is None
    assert m.balanced_accuracy == 1.0


def test_classification_metrics_refuse_bad_input():
    with pytest.raises(ModelError):
        classification_metrics(["a"], ["a", "b"])
    with pytest.raises(ModelError):
        classification_metrics([], [])
    with pytest.raises(ModelError, match="not in the class order"):
        classification_metrics(["a"], ["c"], labels=["a", "b"])
