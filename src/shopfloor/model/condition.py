"""When a condition becomes an alert, and when it clears: persistence and hysteresis.

One state machine for every threshold in the platform (a pipeline's ``alert`` output and
the runtime's alert rules). Each value is first placed against the thresholds
(:func:`threshold_level`), then :class:`Persistence` turns the sequence of levels into
transitions:

- ``beyond`` for ``for_s`` seconds (from the first value beyond to the current one)
  raises;
- once raised, ``back`` (past the clear threshold, ``threshold ∓ hysteresis``) for
  ``clear_for_s`` seconds clears; a value between the two neither raises nor clears and
  restarts the count of whichever is pending;
- ``unknown`` (a NaN, a bad-quality value) is never ``back``: it keeps a raised alert
  raised, says ``unknown`` once, and restarts both counts;
- a gap longer than ``max_gap_ns`` between two values restarts both counts too (a raised
  alert stays raised): two values a day apart are not "a day beyond the threshold". With
  ``learn_gap`` the longest step that is not a gap is learned as the smallest step seen
  (the hop of windows, the period of a sampled signal).

It is pure (no clock, no I/O) and looks at one value at a time, so how the values are cut
into batches never changes its transitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from shopfloor.model.timestamps import NS_PER_S

__all__ = ["Level", "Persistence", "Transition", "threshold_level"]


class Level(StrEnum):
    """Where one value stands against a threshold and its clear threshold."""

    BEYOND = "beyond"
    """Past the threshold: counts towards raising."""
    BETWEEN = "between"
    """Neither beyond nor back (inside the hysteresis band)."""
    BACK = "back"
    """Back past the clear threshold: counts towards clearing."""
    UNKNOWN = "unknown"
    """Nothing known (NaN): never counts as back to normal."""


class Transition(StrEnum):
    """What a value changed."""

    RAISED = "raised"
    CLEARED = "cleared"
    UNKNOWN = "unknown"


def threshold_level(value: float, *, above: bool, threshold: float, clear: float) -> Level:
    """Place ``value`` against ``threshold`` (raising) and ``clear`` (clearing).

    Parameters
    ----------
    value
        The value; a non-finite one is :attr:`Level.UNKNOWN`.
    above
        ``True``: beyond means ``value > threshold`` and back ``value < clear``;
        ``False``: beyond means ``value < threshold`` and back ``value > clear``.
    threshold, clear
        The raising and clearing thresholds (equal without hysteresis).

    Examples
    --------
    >>> threshold_level(5.0, above=True, threshold=4.0, clear=3.0)
    <Level.BEYOND: 'beyond'>
    >>> threshold_level(3.5, above=True, threshold=4.0, clear=3.0)
    <Level.BETWEEN: 'between'>
    >>> threshold_level(float("nan"), above=True, threshold=4.0, clear=3.0)
    <Level.UNKNOWN: 'unknown'>
    """
    if not math.isfinite(value):
        return Level.UNKNOWN
    if above:
        return Level.BEYOND if value > threshold else Level.BACK if value < clear else Level.BETWEEN
    return Level.BEYOND if value < threshold else Level.BACK if value > clear else Level.BETWEEN


@dataclass
class Persistence:
    """The raise/clear state of one condition, fed one level at a time.

    Parameters
    ----------
    for_s
        How long values must stay beyond before it raises (0: at the first).
    clear_for_s
        How long values must stay back before it clears (0: at the first).
    max_gap_ns
        A longer step between two values restarts the pending counts (``None``: never,
        unless learned).
    learn_gap
        Take the smallest step seen so far as ``max_gap_ns`` (it only shrinks).

    Examples
    --------
    >>> p = Persistence(for_s=2.0)
    >>> [p.step(t * 1_000_000_000, Level.BEYOND) for t in range(4)]
    [None, None, <Transition.RAISED: 'raised'>, None]
    >>> p.step(4_000_000_000, Level.UNKNOWN), p.active
    (<Transition.UNKNOWN: 'unknown'>, True)
    >>> p.step(5_000_000_000, Level.BACK)
    <Transition.CLEARED: 'cleared'>
    """

    for_s: float = 0.0
    clear_for_s: float = 0.0
    max_gap_ns: int | None = None
    learn_gap: bool = False
    active: bool = False
    unknown: bool = False
    pending_since: int | None = None
    clearing_since: int | None = None
    last_ns: int | None = None

    @property
    def state(self) -> str:
        """``raised``, ``normal``, or ``unknown`` (the last value was unknown)."""
        if self.unknown:
            return "unknown"
        return "raised" if self.active else "normal"

    def reset(self, *, active: bool = False) -> None:
        """Forget the pending counts; ``active`` says whether it stands raised."""
        self.active = active
        self.unknown = False
        self.pending_since = self.clearing_since = self.last_ns = None

    def _after_gap(self, t_ns: int) -> bool:
        """Whether the value at ``t_ns`` follows a gap; learns the step when asked to."""
        last, self.last_ns = self.last_ns, t_ns
        if last is None or t_ns <= last:
            return False
        step = t_ns - last
        if self.learn_gap and (self.max_gap_ns is None or step < self.max_gap_ns):
            self.max_gap_ns = step
            return False
        return self.max_gap_ns is not None and step > self.max_gap_ns

    def step(self, t_ns: int, level: Level) -> Transition | None:
        """Take the level of the value at ``t_ns``; return the transition it causes, if any."""
        if self._after_gap(t_ns):
            self.pending_since = self.clearing_since = None
        if level is Level.UNKNOWN:
            self.pending_since = self.clearing_since = None
            if self.unknown:
                return None
            self.unknown = True
            return Transition.UNKNOWN
        self.unknown = False
        if not self.active:
            if level is not Level.BEYOND:
                self.pending_since = None
                return None
            self.pending_since = t_ns if self.pending_since is None else self.pending_since
            if t_ns - self.pending_since < self.for_s * NS_PER_S:
                return None
            self.active, self.pending_since = True, None
            return Transition.RAISED
        if level is not Level.BACK:
            self.clearing_since = None
            return None
        self.clearing_since = t_ns if self.clearing_since is None else self.clearing_since
        if t_ns - self.clearing_since < self.clear_for_s * NS_PER_S:
            return None
        self.active, self.clearing_since = False, None
        return Transition.CLEARED
