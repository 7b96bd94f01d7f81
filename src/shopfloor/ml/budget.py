r"""A false-alarm budget and the alarm threshold that keeps to it.

A budget says how many false alarms healthy operation may raise, either per day
(``2/day``; a model's ``false_alarm_budget_per_day`` in the project file) or per a number
of windows (``1/10000``: one alarm in 10,000 windows). Per day is turned into a fraction
of windows with the pipeline's hop :math:`\Delta` (seconds between window starts):

.. math::

    b = \frac{\text{alarms per day}\cdot\Delta}{86\,400}

The alarm threshold is the score that a fraction :math:`b` of healthy windows reach: the
:math:`1-b` quantile of the scores of *held-back* healthy windows (the calibration part,
never the windows the model learned). With :math:`n` such scores, two estimates:

- **empirical quantile**, when :math:`n\,b \ge 10` (at least ten healthy windows are
  expected beyond it, so the quantile is measured, not guessed): ``numpy.quantile``.
  On the calibration scores themselves about :math:`n\,b` windows reach it (a budget of
  :math:`10^{-4}` on :math:`10^6` scores: about 100).
- **generalized Pareto tail**, when :math:`n\,b < 10`: the quantile lies in the far tail
  where few or no healthy windows were seen. By the Pickands–Balkema–de Haan theorem the
  excesses over a high threshold :math:`u` follow a generalized Pareto distribution, so
  the :math:`m` largest scores (:math:`m = \max(30, 0.05\,n)`, :math:`u` the next one
  down) are fitted by maximum likelihood (``scipy.stats.genpareto``, location 0) and

  .. math::

      \theta = u + \operatorname{GPD}^{-1}_{\xi,\sigma}\!\left(1 - \frac{b\,n}{m}\right)

  This needs :math:`m \le 0.2\,n` (at least 150 scores) and extrapolates at most
  :data:`MAX_EXTRAPOLATION` times beyond the rarest score seen (:math:`b \ge 1/(100\,n)`);
  otherwise :class:`~shopfloor.errors.ModelError` says how many healthy windows the
  budget needs.

The threshold is the estimated quantile itself, with no margin: the budget is the
promise. It bounds the healthy windows that *reach* the alarm level; persistence (k of n
windows) lowers the alarms further. The warning level, the baseline and the hysteresis
come from :func:`~shopfloor.ml.calibration.calibrate` (warning budget :math:`10^{-2}`,
or ten times :math:`b` when that is larger, at most 0.2 unless :math:`b` is), the warning
never above the alarm.

Examples
--------
>>> b = FalseAlarmBudget.parse("2/day")
>>> b.per_window(hop_ns=1_000_000_000) * 86_400
2.0
>>> FalseAlarmBudget.parse("1/10000").per_window(hop_ns=1)
0.0001
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.calibration import Thresholds, calibrate

__all__ = [
    "MAX_EXTRAPOLATION",
    "BudgetThreshold",
    "FalseAlarmBudget",
    "budget_quantile",
    "calibrate_to_budget",
]

NS_PER_DAY: Final = 86_400 * 1_000_000_000
MIN_EXPECTED: Final = 10
"""Fewest healthy windows expected beyond the threshold for an empirical quantile."""
MIN_TAIL: Final = 30
"""Fewest largest scores a generalized Pareto tail is fitted on."""
TAIL_FRACTION: Final = 0.05
"""Share of the scores in the fitted tail (when more than :data:`MIN_TAIL`)."""
MAX_TAIL_FRACTION: Final = 0.2
"""Largest share of the scores the tail may take (else too few scores to fit one)."""
MAX_EXTRAPOLATION: Final = 100.0
"""How far below :math:`1/n` the fitted tail may go: :math:`b \\ge 1/(100\\,n)`."""

_BUDGET = re.compile(
    r"^\s*(?P<alarms>[0-9.eE+-]+)\s*/\s*(?:(?P<day>d|day)|(?P<windows>[0-9.eE+]+)\s*(?:w|windows?)?)\s*$"
)


@dataclass(frozen=True)
class FalseAlarmBudget:
    """How many false alarms healthy operation may raise.

    Parameters
    ----------
    alarms
        Number of alarms (> 0).
    per
        ``day``, or ``windows`` (``alarms`` per ``windows`` windows).
    windows
        Number of windows of a ``windows`` budget.
    """

    alarms: float
    per: Literal["day", "windows"] = "day"
    windows: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.alarms) and self.alarms > 0):
            raise ModelError(f"false-alarm budget: alarms must be > 0, got {self.alarms!r}")
        if not (math.isfinite(self.windows) and self.windows > 0):
            raise ModelError(f"false-alarm budget: windows must be > 0, got {self.windows!r}")

    @classmethod
    def parse(cls, text: str) -> FalseAlarmBudget:
        """``2/day`` (alarms per day) or ``1/10000`` (alarms per that many windows).

        Raises
        ------
        ModelError
            When ``text`` is neither.
        """
        match = _BUDGET.match(text)
        try:
            if match is None:
                raise ValueError(text)
            alarms = float(match["alarms"])
            if match["day"]:
                return cls(alarms, "day")
            return cls(alarms, "windows", float(match["windows"]))
        except ValueError as err:
            raise ModelError(
                f"false-alarm budget {text!r}: give alarms per day (2/day) or per a number "
                "of windows (1/10000)"
            ) from err

    def __str__(self) -> str:
        if self.per == "day":
            return f"{self.alarms:g}/day"
        return f"{self.alarms:g}/{self.windows:g} windows"

    def per_window(self, hop_ns: int) -> float:
        """Fraction of windows allowed to reach the alarm level (windows ``hop_ns`` apart).

        Raises
        ------
        ModelError
            When the fraction is not below 1 (more alarms than windows).
        """
        if hop_ns <= 0:
            raise ModelError(f"false-alarm budget: the hop must be > 0 ns, got {hop_ns!r}")
        if self.per == "day":
            fraction = self.alarms * hop_ns / NS_PER_DAY
        else:
            fraction = self.alarms / self.windows
        if not fraction < 1:
            raise ModelError(
                f"false-alarm budget {self}: {fraction:g} alarms per window (hop "
                f"{hop_ns / 1e9:g} s); a budget must allow fewer alarms than windows"
            )
        return fraction


@dataclass(frozen=True)
class BudgetThreshold:
    """An alarm threshold set to a per-window budget, and how it was estimated.

    Attributes
    ----------
    threshold
        The score reached by about a fraction ``budget`` of healthy windows.
    budget
        That fraction :math:`b`.
    method
        ``empirical quantile`` or ``generalized Pareto tail``.
    windows
        Number of (finite) healthy scores it was estimated on.
    tail
        For a fitted tail: ``{"threshold": u, "shape": xi, "scale": sigma, "scores": m}``.
    """

    threshold: float
    budget: float
    method: str
    windows: int
    tail: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (a model card's ``calibration.budget``)."""
        out: dict[str, Any] = {
            "per_window": self.budget,
            "method": self.method,
            "windows": self.windows,
            "expected_exceedances": self.budget * self.windows,
            "threshold": self.threshold,
        }
        if self.tail is not None:
            out["tail"] = self.tail
        return out


def _needed(budget: float) -> str:
    empirical = math.ceil(MIN_EXPECTED / budget)
    fitted = max(
        math.ceil(MIN_TAIL / MAX_TAIL_FRACTION), math.ceil(1 / (MAX_EXTRAPOLATION * budget))
    )
    return f"{min(empirical, fitted)}"


def budget_quantile(healthy_scores: npt.ArrayLike, budget: float) -> BudgetThreshold:
    """The score a fraction ``budget`` of healthy windows reach (see the module docstring).

    Parameters
    ----------
    healthy_scores
        Scores of held-back healthy windows; NaN are ignored.
    budget
        Fraction :math:`b` of windows, ``0 < b < 1``.

    Returns
    -------
    BudgetThreshold

    Raises
    ------
    ModelError
        When there are too few scores for the budget (the message says how many it
        needs).

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.random.default_rng(0).exponential(size=100_000)
    >>> t = budget_quantile(scores, 1e-3)
    >>> t.method, int((scores >= t.threshold).sum())
    ('empirical quantile', 100)
    >>> budget_quantile(scores[:2000], 1e-4).method
    'generalized Pareto tail'
    """
    if not 0 < budget < 1:
        raise ModelError(f"false-alarm budget: {budget!r} per window is not in (0, 1)")
    scores = np.sort(np.asarray(healthy_scores, dtype=np.float64).ravel())
    scores = scores[np.isfinite(scores)]
    n = int(scores.size)
    if n * budget >= MIN_EXPECTED:
        q = float(np.quantile(scores, 1.0 - budget))
        return BudgetThreshold(q, budget, "empirical quantile", n)
    m = max(MIN_TAIL, math.ceil(TAIL_FRACTION * n))
    if m > MAX_TAIL_FRACTION * n or budget * n * MAX_EXTRAPOLATION < 1:
        raise ModelError(
            f"false-alarm budget {budget:.3g} per window: {n} held-back healthy window(s) "
            f"are too few to estimate it; it needs at least {_needed(budget)} (train on a "
            "longer range, give the calibration part a larger share with --split, or allow "
            "more false alarms)"
        )
    u = float(scores[n - m - 1])
    excess = scores[n - m :] - u
    if not np.ptp(excess) > 0:
        # a flat tail (many equal top scores): nothing to fit; the top score is the level
        return BudgetThreshold(float(scores[-1]), budget, "largest healthy score", n)
    from scipy.stats import genpareto  # fitted by maximum likelihood, location fixed at 0

    with warnings.catch_warnings():
        # the optimizer may step through invalid shapes on its way; the result is checked
        warnings.simplefilter("ignore", RuntimeWarning)
        shape, _, scale = genpareto.fit(excess, floc=0.0)
        q = u + float(genpareto.isf(budget * n / m, shape, 0.0, scale))
    if not math.isfinite(q):
        raise ModelError(
            f"false-alarm budget {budget:.3g} per window: the tail fitted to the {m} largest "
            f"of {n} healthy scores gives no finite threshold (shape {shape:.3g})"
        )
    tail = {"threshold": u, "shape": float(shape), "scale": float(scale), "scores": float(m)}
    return BudgetThreshold(max(q, u), budget, "generalized Pareto tail", n, tail)


def calibrate_to_budget(
    healthy_scores: npt.ArrayLike, budget: float, *, hysteresis: float = 0.1
) -> tuple[Thresholds, BudgetThreshold]:
    """Thresholds with the alarm level at the budget's quantile (see the module docstring).

    Parameters
    ----------
    healthy_scores
        Scores of held-back healthy windows; NaN are ignored.
    budget
        Fraction of healthy windows that may reach the alarm level.
    hysteresis
        As in :func:`~shopfloor.ml.calibration.calibrate`.

    Returns
    -------
    tuple of Thresholds and BudgetThreshold
        The thresholds, and how the alarm level was estimated.
    """
    alarm = budget_quantile(healthy_scores, budget)
    warning_budget = max(budget, min(0.2, max(1e-2, 10 * budget)))
    base = calibrate(
        healthy_scores,
        alarm_budget=warning_budget,
        warning_budget=warning_budget,
        hysteresis=hysteresis,
    )
    if not alarm.threshold > base.baseline:
        return base, alarm  # healthy scores all (nearly) equal: calibrate's levels
    warning = min(base.warning, alarm.threshold)
    if not warning > base.baseline:
        warning = base.baseline + 0.5 * (alarm.threshold - base.baseline)
    return Thresholds(base.baseline, warning, alarm.threshold, base.hysteresis), alarm
