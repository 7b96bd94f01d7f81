r"""The calibrated states of a live score, one window at a time.

:func:`shopfloor.ml.calibration.alert_states` gives the states of a whole series at once
(k-of-n persistence, hysteresis, runs broken by data gaps). Live windows arrive a few at
a time and the state must carry over between them, so :class:`ScoreStates` keeps what
the series function keeps implicitly: the current run's last ``n`` windows and whether
each level is latched. Fed any chunking of a series, it gives exactly the states
``alert_states`` gives on the whole series (``tests/runtime/test_deployment_states.py``).
The loop is over windows (a few per second per asset), never over samples.

Each level :math:`L` (warning, alarm) is a set-reset latch: raised on window :math:`i`
when :math:`s_i \ge \theta_L` and at least :math:`k` of the run's last :math:`n` windows
reached :math:`\theta_L`; reset when :math:`s_i` is below the clear level, or when a new
run starts without raising.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.calibration import Thresholds

__all__ = ["STATE_CODES", "ScoreStates", "state_code", "state_from_code"]

STATE_CODES: dict[str, float] = {"normal": 0.0, "warning": 1.0, "alarm": 2.0, "unknown": math.nan}
"""The numeric code of each state in the ``<deployment>.state`` signal (unknown is NaN, so an
alert rule on it says unknown, never back to normal)."""


def state_code(state: str) -> float:
    """The numeric code of ``state`` (:data:`STATE_CODES`)."""
    return STATE_CODES[state]


def state_from_code(code: float) -> str:
    """The state a stored code stands for (NaN: ``unknown``)."""
    if not math.isfinite(code):
        return "unknown"
    return {0: "normal", 1: "warning", 2: "alarm"}.get(round(code), "unknown")


@dataclass
class _Level:
    threshold: float
    clear: float
    reached: deque[bool]
    on: bool = False


@dataclass
class ScoreStates:
    """Persistence and hysteresis over a live score (see the module docstring).

    Parameters
    ----------
    thresholds
        The model's calibrated thresholds.
    hop_ns
        Time between window starts; a larger step starts a new run.
    k, n
        A level is raised when ``k`` of the run's last ``n`` windows reached it.
    """

    thresholds: Thresholds
    hop_ns: int
    k: int = 3
    n: int = 5
    last_t0_ns: int | None = None
    _levels: list[_Level] = field(init=False)

    def __post_init__(self) -> None:
        if not (1 <= self.k <= self.n):
            raise ModelError(f"persistence: need 1 ≤ k ≤ n, got k={self.k!r}, n={self.n!r}")
        if self.hop_ns <= 0:
            raise ModelError(f"hop_ns must be > 0, got {self.hop_ns!r}")
        th = self.thresholds
        self._levels = [
            _Level(t, th.clear_level(t), deque(maxlen=self.n)) for t in (th.warning, th.alarm)
        ]

    @property
    def state(self) -> str:
        """The state after the last window (``normal`` before any)."""
        warning, alarm = self._levels
        return "alarm" if alarm.on else "warning" if warning.on else "normal"

    def step(self, t0_ns: int, score: float) -> str:
        """The state of one window starting at ``t0_ns`` with ``score`` (NaN: unknown)."""
        if self.last_t0_ns is not None and t0_ns <= self.last_t0_ns:
            raise ModelError(f"window start times must increase: {t0_ns} after {self.last_t0_ns}")
        starts = self.last_t0_ns is None or t0_ns - self.last_t0_ns > self.hop_ns
        self.last_t0_ns = t0_ns
        known = math.isfinite(score)
        for level in self._levels:
            if starts:
                level.reached.clear()
            reached = known and score >= level.threshold
            level.reached.append(reached)
            raised = reached and sum(level.reached) >= self.k
            if raised:
                level.on = True
            elif (known and score < level.clear) or starts:
                level.on = False
        return self.state if known else "unknown"

    def run(self, t0_ns: Sequence[int], scores: npt.ArrayLike) -> list[str]:
        """The states of windows in time order (:meth:`step` on each)."""
        values = np.asarray(scores, dtype=np.float64).tolist()
        return [self.step(int(t), float(s)) for t, s in zip(t0_ns, values, strict=True)]

    def seed(self, t0_ns: Sequence[int], scores: npt.ArrayLike, last_state: str) -> None:
        """Take up where a stopped run left off: its last windows' scores and its last state.

        The last ``n`` windows rebuild the k-of-n counts; ``last_state`` restores the
        latches, which may have been set long before those windows.
        """
        self.run(list(t0_ns)[-self.n :], np.asarray(scores, dtype=np.float64)[-self.n :])
        if last_state == "unknown":
            return
        warning, alarm = self._levels
        alarm.on = last_state == "alarm"
        warning.on = last_state in ("warning", "alarm") and (warning.on or last_state == "warning")
