"""Evaluation metrics: run-to-failure alarms and labelled classification.

Two kinds of ground truth:

- **Run to failure**: a machine ran until it failed at a known time; the model raised
  alarms (one boolean per window, after persistence). :func:`run_to_failure_metrics`
  gives the first alarm, the lead time before failure and the false alarms raised before
  an alarm was due (by default, in the first half of life).
- **Labelled windows**: each window has a class. :func:`detection_metrics` gives AUROC and
  PR-AUC of a score against a binary label; :func:`classification_metrics` the confusion
  matrix, accuracy and per-class recall of predicted classes. Both use scikit-learn.

All functions are pure: arrays in, a frozen result out, nothing stored.

Examples
--------
>>> import numpy as np
>>> t = np.arange(10.0)
>>> alarm = np.array([0, 0, 1, 0, 0, 0, 0, 1, 1, 1], dtype=bool)
>>> m = run_to_failure_metrics(t, alarm)
>>> m.first_alarm_s, m.lead_time_s, m.false_alarm_episodes
(7.0, 2.0, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

from shopfloor.errors import ModelError

__all__ = [
    "ClassificationMetrics",
    "DetectionMetrics",
    "RunToFailureMetrics",
    "alarm_episodes",
    "classification_metrics",
    "detection_metrics",
    "run_to_failure_metrics",
]


@dataclass(frozen=True)
class RunToFailureMetrics:
    """Alarms of one run to failure, in seconds of the run's own clock.

    Attributes
    ----------
    start_s, failure_s
        First window's time and the failure time (end of life).
    due_s
        From when an alarm counts as a warning of the failure; alarms before it are false.
    first_alarm_s
        Start of the first alarm episode that begins at or after ``due_s``; None when
        there is none. An episode that began before ``due_s`` is a false alarm even if it
        lasts past it (an operator would have dismissed it), so it never counts as the
        warning.
    first_any_alarm_s
        First alarmed window of the whole run (may be a false alarm); None when none.
    lead_time_s
        ``failure_s - first_alarm_s``; 0 when no alarm came in time (None is not used, so
        runs can be averaged).
    false_alarm_windows, false_alarm_episodes
        Alarmed windows before ``due_s``, and the number of separate alarm episodes
        (runs of consecutive alarmed windows) that started before it.
    windows_before_due
        Windows before ``due_s`` (the denominator of a false-alarm rate).
    """

    start_s: float
    failure_s: float
    due_s: float
    first_alarm_s: float | None
    first_any_alarm_s: float | None
    lead_time_s: float
    false_alarm_windows: int
    false_alarm_episodes: int
    windows_before_due: int

    @property
    def life_s(self) -> float:
        """Length of the run, ``failure_s - start_s``."""
        return self.failure_s - self.start_s

    @property
    def lead_fraction(self) -> float:
        """Lead time as a fraction of the life (0 to 1)."""
        return self.lead_time_s / self.life_s if self.life_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields, the derived ones included."""
        return {**asdict(self), "life_s": self.life_s, "lead_fraction": self.lead_fraction}


def _vector(values: ArrayLike, name: str, dtype: type[Any] = np.float64) -> npt.NDArray[Any]:
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ModelError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def alarm_episodes(alarm: ArrayLike) -> npt.NDArray[np.intp]:
    """Return the index where each alarm episode (a run of True) starts.

    Examples
    --------
    >>> alarm_episodes([False, True, True, False, True])
    array([1, 4])
    """
    a = _vector(alarm, "alarm", bool)
    rising = a & ~np.concatenate([[False], a[:-1]])
    return np.flatnonzero(rising)


def run_to_failure_metrics(
    times_s: ArrayLike,
    alarm: ArrayLike,
    *,
    failure_s: float | None = None,
    due_s: float | None = None,
    due_fraction: float = 0.5,
) -> RunToFailureMetrics:
    """First alarm, lead time and false alarms of one run to failure.

    Parameters
    ----------
    times_s
        Time of each window in seconds, increasing.
    alarm
        Whether each window is in alarm (after persistence and hysteresis).
    failure_s
        Time of failure; default the last window's time.
    due_s
        From when an alarm is a true warning; default ``start + due_fraction · life``.
    due_fraction
        Fraction of life before which any alarm is false, when ``due_s`` is not given
        (default 0.5: no alarm in the first half of life).

    Returns
    -------
    RunToFailureMetrics

    Raises
    ------
    ModelError
        When the arrays differ in length, are empty, or ``times_s`` is not increasing.
    """
    t = _vector(times_s, "times_s")
    a = _vector(alarm, "alarm", bool)
    if t.size == 0:
        raise ModelError("times_s is empty: a run needs at least one window")
    if t.size != a.size:
        raise ModelError(f"times_s has {t.size} windows but alarm has {a.size}")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ModelError("times_s must be finite and strictly increasing")
    if not 0.0 <= due_fraction <= 1.0:
        raise ModelError(f"due_fraction must be in [0, 1], got {due_fraction!r}")
    start = float(t[0])
    end = float(t[-1]) if failure_s is None else float(failure_s)
    if not (math.isfinite(end) and end >= start):
        raise ModelError(f"failure_s={failure_s!r} is before the first window ({start} s)")
    due = start + due_fraction * (end - start) if due_s is None else float(due_s)
    before = t < due
    alarmed = np.flatnonzero(a)
    starts = alarm_episodes(a)
    in_time = starts[~before[starts]]
    first = float(t[in_time[0]]) if in_time.size else None
    return RunToFailureMetrics(
        start_s=start,
        failure_s=end,
        due_s=due,
        first_alarm_s=first,
        first_any_alarm_s=float(t[alarmed[0]]) if alarmed.size else None,
        lead_time_s=max(0.0, end - first) if first is not None else 0.0,
        false_alarm_windows=int(np.count_nonzero(a & before)),
        false_alarm_episodes=int(np.count_nonzero(before[starts])),
        windows_before_due=int(np.count_nonzero(before)),
    )


@dataclass(frozen=True)
class DetectionMetrics:
    """How well a score separates positives (e.g. faulty) from negatives.

    Attributes
    ----------
    auroc
        Area under the ROC curve (0.5 is chance, 1 perfect).
    pr_auc
        Area under the precision-recall curve (average precision); chance is the
        positive share ``n_positive / (n_positive + n_negative)``.
    n_positive, n_negative
        Counts of each label among the finite scores used.
    n_unknown
        Windows with a NaN score (unknown), left out of both areas.
    """

    auroc: float
    pr_auc: float
    n_positive: int
    n_negative: int
    n_unknown: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return asdict(self)


def detection_metrics(is_positive: ArrayLike, scores: ArrayLike) -> DetectionMetrics:
    """AUROC and PR-AUC of ``scores`` (higher = more likely positive).

    NaN scores (unknown) are counted and left out.

    Examples
    --------
    >>> m = detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> m.auroc, round(m.pr_auc, 3)
    (0.75, 0.833)

    Raises
    ------
    ModelError
        When lengths differ or the finite scores hold only one label.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = _vector(is_positive, "is_positive", bool)
    s = _vector(scores, "scores")
    if y.size != s.size:
        raise ModelError(f"is_positive has {y.size} entries but scores has {s.size}")
    known = np.isfinite(s)
    y_k, s_k = y[known], s[known]
    n_pos, n_neg = int(y_k.sum()), int((~y_k).sum())
    if n_pos == 0 or n_neg == 0:
        raise ModelError(
            f"detection metrics need both labels among finite scores, got {n_pos} positive "
            f"and {n_neg} negative"
        )
    return DetectionMetrics(
        auroc=float(roc_auc_score(y_k, s_k)),
        pr_auc=float(average_precision_score(y_k, s_k)),
        n_positive=n_pos,
        n_negative=n_neg,
        n_unknown=int((~known).sum()),
    )


@dataclass(frozen=True)
class ClassificationMetrics:
    """Predicted classes against true ones.

    Attributes
    ----------
    labels
        Class order of the matrix rows (true) and columns (predicted).
    confusion
        ``confusion[i][j]``: windows of class ``labels[i]`` predicted ``labels[j]``.
    accuracy
        Share of windows predicted right.
    balanced_accuracy
        Mean of the per-class recalls (classes with no window left out).
    recall
        Per class: share of its windows predicted right (NaN when it has none).
    """

    labels: list[str]
    confusion: list[list[int]]
    accuracy: float
    balanced_accuracy: float
    recall: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields (NaN recall as None)."""
        out = asdict(self)
        out["recall"] = {k: (None if math.isnan(v) else v) for k, v in self.recall.items()}
        return out


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> ClassificationMetrics:
    """Confusion matrix, accuracy and per-class recall.

    Parameters
    ----------
    y_true, y_pred
        True and predicted class of each window.
    labels
        Class order; default the sorted union of both.

    Examples
    --------
    >>> m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    >>> m.confusion, m.accuracy, m.recall
    ([[1, 1], [0, 2]], 0.75, {'a': 0.5, 'b': 1.0})

    Raises
    ------
    ModelError
        When lengths differ, nothing is given, or a label is outside ``labels``.
    """
    from sklearn.metrics import confusion_matrix

    true = [str(v) for v in y_true]
    pred = [str(v) for v in y_pred]
    if len(true) != len(pred):
        raise ModelError(f"y_true has {len(true)} entries but y_pred has {len(pred)}")
    if not true:
        raise ModelError("classification metrics need at least one window, got none")
    order = sorted(set(true) | set(pred)) if labels is None else [str(v) for v in labels]
    unknown = sorted((set(true) | set(pred)) - set(order))
    if unknown:
        raise ModelError(f"labels {unknown} are not in the class order {order}")
    matrix = confusion_matrix(true, pred, labels=order)
    support = matrix.sum(axis=1)
    diag = np.diag(matrix)
    recall = {
        label: float(diag[i] / support[i]) if support[i] else math.nan
        for i, label in enumerate(order)
    }
    present = [v for v in recall.values() if not math.isnan(v)]
    return ClassificationMetrics(
        labels=order,
        confusion=[[int(v) for v in row] for row in matrix],
        accuracy=float(diag.sum() / matrix.sum()),
        balanced_accuracy=float(np.mean(present)),
        recall=recall,
    )
