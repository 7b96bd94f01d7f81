r"""From anomaly scores to what a technician reads: thresholds, states, a health index.

Three steps, each a pure numpy function:

1. :func:`calibrate` sets the warning and alarm thresholds on *held-back* healthy scores
   (windows the model did not learn from), so that healthy data raises at most the
   false-alarm budget. With :math:`m` the median healthy score and :math:`q_p` the
   empirical :math:`p` quantile,

   .. math::

       \theta_\text{alarm} = q_{1-b_a} + \mu\,(q_{1-b_a} - m), \qquad
       \theta_\text{warn} = \min\left(q_{1-b_w} + \mu\,(q_{1-b_w} - m),\;
       \theta_\text{alarm}\right)

   with budgets :math:`b_a` (default :math:`10^{-4}`: one alarm in 10,000 windows) and
   :math:`b_w` (:math:`10^{-2}`), and the margin :math:`\mu` (default 0.25). The margin
   is a fraction of the distance from the typical healthy score to the quantile, so it
   works for any score's units and sign. It covers what a finite sample cannot see: with
   :math:`n < 1/b_a` healthy windows the quantile is the largest healthy score, and the
   true :math:`1-b_a` quantile lies beyond it.

2. :func:`alert_states` turns scores into ``normal`` / ``warning`` / ``alarm`` /
   ``unknown`` with persistence and hysteresis. A level :math:`L` is *raised* on window
   :math:`i` when :math:`s_i \ge \theta_L` and at least :math:`k` of the last :math:`n`
   windows of the same run (window :math:`i` included) reached :math:`\theta_L`; it is
   *cleared* when :math:`s_i < \theta_L - h\,(\theta_L - m)` (hysteresis :math:`h`,
   default 0.1); otherwise it stays as it was. Windows are consecutive only when a window
   starts at most one hop after the previous one: a data gap (start difference > hop)
   begins a new run, with no count carried over and no level raised. A ``NaN`` score
   (unknown regime, no data) is state ``unknown``, counts as not reaching any threshold,
   and leaves the levels as they were. Each level is the platform's one persistence state
   machine, :class:`shopfloor.model.condition.Persistence` with ``k_of_n=(k, n)`` and
   ``gap_clears``, run over the whole array by :func:`~shopfloor.model.condition.k_of_n_active`.

3. :func:`health_index` maps a score to 0–100, linear in the score:

   .. math::

       H(s) = 100 \cdot \operatorname{clip}\left(1 - \frac{s - m}{2(\theta_\text{alarm} - m)},
       0, 1\right)

   100 is "like the healthy baseline" (score at or below its median), 50 is the alarm
   threshold, 0 is twice as far from the baseline as the alarm threshold, or further.
   ``NaN`` stays ``NaN`` (unknown, never healthy). Monotone: a higher score never gives a
   higher index.

Examples
--------
>>> import numpy as np
>>> healthy = np.random.default_rng(0).normal(size=5000)
>>> th = calibrate(healthy)
>>> bool(th.baseline < th.warning < th.alarm)
True
>>> health_index(np.array([th.baseline, th.alarm, np.nan]), th).tolist()
[100.0, 50.0, nan]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.model import condition

__all__ = [
    "STATES",
    "Thresholds",
    "alert_states",
    "calibrate",
    "health_index",
    "run_starts",
]

STATES: Final = ("normal", "warning", "alarm", "unknown")
"""The states :func:`alert_states` gives, mildest first; ``unknown`` is a missing score."""

MIN_HEALTHY_WINDOWS = 20
"""Fewest finite held-back healthy scores :func:`calibrate` accepts."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Thresholds:
    r"""Calibrated levels of one model's score.

    Attributes
    ----------
    baseline
        Median healthy score :math:`m` (health index 100 at or below it).
    warning, alarm
        Thresholds, ``baseline < warning <= alarm``.
    hysteresis
        A level clears below :math:`\theta - h(\theta - m)`.
    """

    baseline: float
    warning: float
    alarm: float
    hysteresis: float = 0.1

    def __post_init__(self) -> None:
        if not self.baseline < self.warning <= self.alarm:
            raise ModelError(
                "thresholds must satisfy baseline < warning <= alarm, got "
                f"baseline={self.baseline}, warning={self.warning}, alarm={self.alarm}"
            )
        if not 0 <= self.hysteresis < 1:
            raise ModelError(f"hysteresis must be in [0, 1), got {self.hysteresis!r}")

    def clear_level(self, threshold: float) -> float:
        """Score below which a raised level at ``threshold`` clears."""
        return threshold - self.hysteresis * (threshold - self.baseline)

    def to_dict(self) -> dict[str, float]:
        """JSON-able form (a model card's ``thresholds``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: float(v) for k, v in data.items()})


def calibrate(
    healthy_scores: npt.ArrayLike,
    *,
    alarm_budget: float = 1e-4,
    warning_budget: float = 1e-2,
    margin: float = 0.25,
    hysteresis: float = 0.1,
) -> Thresholds:
    r"""Warning and alarm thresholds from held-back healthy scores and false-alarm budgets.

    Parameters
    ----------
    healthy_scores
        Scores of healthy windows the model was not fitted on; NaN are ignored.
    alarm_budget, warning_budget
        Largest fraction of healthy windows that may reach the alarm / warning threshold
        (before persistence, which lowers it further): :math:`b_a`, :math:`b_w`.
    margin
        :math:`\mu`: how far beyond each quantile, as a fraction of its distance from the
        median healthy score.
    hysteresis
        :math:`h` of :class:`Thresholds`.

    Returns
    -------
    Thresholds
        See the module docstring for the formulas.
    """
    for name, value in (("alarm_budget", alarm_budget), ("warning_budget", warning_budget)):
        if not 0 < value < 1:
            raise ModelError(f"calibrate: {name} must be in (0, 1), got {value!r}")
    if alarm_budget > warning_budget:
        raise ModelError(
            f"calibrate: alarm_budget {alarm_budget} is larger than warning_budget "
            f"{warning_budget}; an alarm must be rarer than a warning"
        )
    if margin < 0 or not 0 <= hysteresis < 1:
        raise ModelError(
            f"calibrate: margin must be ≥ 0 and hysteresis in [0, 1), got {margin!r}, "
            f"{hysteresis!r}"
        )
    scores = np.asarray(healthy_scores, dtype=np.float64).ravel()
    scores = scores[np.isfinite(scores)]
    if scores.size < MIN_HEALTHY_WINDOWS:
        raise ModelError(
            f"calibrate: {scores.size} finite healthy score(s); need at least "
            f"{MIN_HEALTHY_WINDOWS} held-back healthy windows"
        )
    median, q_warn, q_alarm = np.quantile(scores, [0.5, 1 - warning_budget, 1 - alarm_budget])
    alarm = q_alarm + margin * (q_alarm - median)
    warning = min(q_warn + margin * (q_warn - median), alarm)
    if not alarm > median:
        # every healthy score equal: anything above it is a departure
        spread = max(abs(float(median)), 1.0) * 1e-9
        warning, alarm = median + spread, median + spread
    if not warning > median:
        # many equal healthy scores: the warning quantile is the median itself
        warning = median + 0.5 * (alarm - median)
    return Thresholds(float(median), float(warning), float(alarm), float(hysteresis))


def run_starts(t0_ns: npt.ArrayLike, hop_ns: int) -> npt.NDArray[np.bool_]:
    """Whether each window starts a new run: the first, and any after a data gap.

    :func:`shopfloor.model.condition.run_starts` with the window hop as the longest step.

    Raises
    ------
    ModelError
        When ``hop_ns`` is not positive or the start times do not increase.
    """
    try:
        return condition.run_starts(t0_ns, hop_ns)
    except ValueError as err:
        raise ModelError(f"window start times (hop {hop_ns} ns): {err}") from err


def alert_states(
    scores: npt.ArrayLike,
    t0_ns: npt.ArrayLike,
    hop_ns: int,
    thresholds: Thresholds,
    *,
    k: int = 3,
    n: int = 5,
) -> npt.NDArray[np.str_]:
    """State of each window: ``normal``, ``warning``, ``alarm`` or ``unknown``.

    Parameters
    ----------
    scores
        One score per window (NaN: unknown).
    t0_ns
        Window start times, integer nanoseconds, increasing.
    hop_ns
        Time between consecutive window starts; a larger step is a data gap.
    thresholds
        From :func:`calibrate`.
    k, n
        Persistence: a level is raised when ``k`` of the last ``n`` windows of the run
        reach it (see the module docstring for hysteresis and gaps).

    Returns
    -------
    numpy.ndarray of str
        One of :data:`STATES` per window.

    Examples
    --------
    >>> th = Thresholds(baseline=0.0, warning=2.0, alarm=4.0)
    >>> t0 = [0, 1, 2, 3, 10, 11]  # a gap between 3 and 10
    >>> alert_states([5, 5, 0, 5, 5, 5], t0, 1, th, k=2, n=3).tolist()
    ['normal', 'alarm', 'normal', 'alarm', 'normal', 'alarm']
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    t0 = np.asarray(t0_ns, dtype=np.int64).ravel()
    if s.shape != t0.shape:
        raise ModelError(f"alert_states: {s.size} scores for {t0.size} window start times")
    if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n):
        raise ModelError(f"alert_states: need 1 ≤ k ≤ n, got k={k!r}, n={n!r}")
    starts = run_starts(t0, hop_ns)
    known = np.isfinite(s)
    active = []
    for threshold in (thresholds.warning, thresholds.alarm):
        # the levels of condition.threshold_level(above=True, reaching=True), vectorized
        beyond = known & (s >= threshold)
        back = known & (s < thresholds.clear_level(threshold))
        active.append(condition.k_of_n_active(beyond, back, starts, k=k, n=n))
    warning, alarm = active
    states = np.full(s.size, "normal", dtype="<U7")
    states[warning] = "warning"
    states[alarm] = "alarm"
    states[~known] = "unknown"
    return states


def health_index(scores: npt.ArrayLike, thresholds: Thresholds) -> FloatArray:
    """Health index 0–100 of each score (100 healthy, 50 at the alarm threshold, NaN unknown).

    See the module docstring for the mapping.
    """
    s = np.asarray(scores, dtype=np.float64)
    span = 2.0 * (thresholds.alarm - thresholds.baseline)
    index: FloatArray = 100.0 * np.clip(1.0 - (s - thresholds.baseline) / span, 0.0, 1.0)
    return index
