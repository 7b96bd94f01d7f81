"""What a rule says about the values of its signal: raised, cleared, unknown.

Pure: each :class:`RuleState` takes the values of one signal in time order and returns
its :class:`Firing` s; persistence and hysteresis are the platform's one state machine
(:class:`~shopfloor.model.condition.Persistence`). It looks at one value at a time, so
how the values are cut into batches never changes what it fires.

- ``threshold``: the value against ``threshold``, clearing past ``threshold ∓ hysteresis``.
- ``rate_of_change``: ``|v - v0| / (t - t0)`` per second, where ``(t0, v0)`` is the oldest
  value within the last ``window_s``; nothing is said until there are two values in the
  window. A NaN is unknown and starts the window afresh.
- ``stale``: time since the last value *arrived* (not its timestamp: backfilled history
  is not fresh data), checked by :meth:`RuleState.tick`.
- ``defect_rate``: the share of defective items (state code 2) among the known ones (0
  or 2) in the window: the last ``window_n`` of them, or those of the last ``window_s``
  seconds; nothing is said until ``min_values`` are in it. An uncertain item (code 1) or
  an unknown value (NaN) is not counted either way.

A value whose timestamp is not after the last one taken (a redelivery) is skipped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from shopfloor.model.condition import Level, Persistence, Transition, threshold_level
from shopfloor.model.timestamps import NS_PER_S
from shopfloor.runtime.config import AlertRuleConfig

__all__ = ["Firing", "RuleState"]

_GOOD, _DEFECTIVE = 0.0, 2.0
"""The state codes of a good and a defective item (``normal`` and ``alarm`` in
:data:`shopfloor.runtime.deployments.STATE_CODES`)."""


@dataclass(frozen=True, slots=True)
class Firing:
    """A transition of a rule, at a time, with the value that made it (if any)."""

    transition: Transition
    t_ns: int
    value: float | None = None


@dataclass
class RuleState:
    """The evaluation state of one rule on one signal.

    Parameters
    ----------
    rule
        The rule.
    started_ns
        When watching started: a stale rule counts from here until a first value arrives.
    """

    rule: AlertRuleConfig
    started_ns: int = 0
    persistence: Persistence = field(init=False)
    last_ns: int | None = None
    last_arrival_ns: int | None = None
    _window: deque[tuple[int, float]] = field(default_factory=deque, init=False)
    _defects: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.persistence = Persistence(self.rule.for_s, self.rule.clear_after_s)

    @property
    def is_stale_rule(self) -> bool:
        """Whether the rule watches for missing values (checked by :meth:`tick`)."""
        return self.rule.kind == "stale"

    def feed(self, ts_ns: Sequence[int], values: Sequence[float], arrival_ns: int) -> list[Firing]:
        """Take values (in time order) that arrived at ``arrival_ns``; return the firings."""
        out: list[Firing] = []
        if self.is_stale_rule:
            if len(ts_ns):
                self.last_arrival_ns = arrival_ns
                fired = self.persistence.step(arrival_ns, Level.BACK)
                if fired is not None:
                    out.append(Firing(fired, arrival_ns))
            return out
        for t, v in zip(ts_ns, values, strict=True):
            if self.last_ns is not None and t <= self.last_ns:
                continue
            self.last_ns = t
            measured = self._measure(t, v)
            if measured is None:
                continue
            level = self._level(measured)
            fired = self.persistence.step(t, level)
            if fired is not None:
                out.append(Firing(fired, t, measured if math.isfinite(measured) else None))
        return out

    def tick(self, now_ns: int) -> list[Firing]:
        """For a stale rule: whether no value has arrived for ``stale_s`` by ``now_ns``."""
        if not self.is_stale_rule:
            return []
        assert self.rule.stale_s is not None  # the rule's validator requires it
        since = self.last_arrival_ns if self.last_arrival_ns is not None else self.started_ns
        silent_s = (now_ns - since) / NS_PER_S
        level = Level.BEYOND if silent_s > self.rule.stale_s else Level.BETWEEN
        if level is Level.BETWEEN and not self.persistence.active:
            self.persistence.pending_since = None
            return []
        fired = self.persistence.step(now_ns, level)
        return [] if fired is None else [Firing(fired, now_ns, silent_s)]

    def _measure(self, t: int, v: float) -> float | None:
        """The value the rule compares: the value itself or its rate (None: not yet)."""
        if self.rule.kind == "defect_rate":
            return self._defect_rate(t, v)
        if self.rule.kind != "rate_of_change":
            return v
        if not math.isfinite(v):
            self._window.clear()
            return v
        assert self.rule.window_s is not None  # the rule's validator requires it
        horizon = t - self.rule.window_s * NS_PER_S
        self._window.append((t, v))
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()
        if len(self._window) < 2:
            return None
        t0, v0 = self._window[0]
        return abs(v - v0) / ((t - t0) / NS_PER_S)

    def _defect_rate(self, t: int, v: float) -> float | None:
        """The share of defective items in the window once it holds enough (else None)."""
        if v not in (_GOOD, _DEFECTIVE):
            return None  # uncertain or unknown: neither good nor defective
        rule = self.rule
        defect = 1.0 if v == _DEFECTIVE else 0.0
        self._window.append((t, defect))
        self._defects += defect
        if rule.window_n is not None:
            while len(self._window) > rule.window_n:
                self._defects -= self._window.popleft()[1]
        else:
            assert rule.window_s is not None  # the rule's validator requires one of them
            horizon = t - rule.window_s * NS_PER_S
            while self._window and self._window[0][0] < horizon:
                self._defects -= self._window.popleft()[1]
        if len(self._window) < rule.least_values:
            return None
        return max(0.0, self._defects) / len(self._window)

    def _level(self, measured: float) -> Level:
        assert self.rule.threshold is not None  # threshold and rate rules require it
        above = self.rule.kind in ("rate_of_change", "defect_rate")
        above = above or self.rule.condition == "above"
        hysteresis = self.rule.hysteresis if above else -self.rule.hysteresis
        return threshold_level(
            measured,
            above=above,
            threshold=self.rule.threshold,
            clear=self.rule.threshold - hysteresis,
        )
