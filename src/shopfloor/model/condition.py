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
  alert stays raised, unless ``gap_clears``): two values a day apart are not "a day beyond
  the threshold". With ``learn_gap`` the longest step that is not a gap is learned as the
  smallest step seen (the hop of windows, the period of a sampled signal).

Raising can count windows instead of time: with ``k_of_n=(k, n)`` a value beyond raises
when at least ``k`` of the last ``n`` values since the last gap (itself included) were
beyond; a value that is not beyond (between, back or unknown) takes one of the ``n``
places without restarting anything. This is the persistence of a model's alert states
(:mod:`shopfloor.ml.calibration`).

:class:`Persistence` is pure (no clock, no I/O) and looks at one value at a time, so how
the values are cut into batches never changes its transitions. :func:`k_of_n_active` is
the same machine over whole arrays at once (k of n, clearing at the first value back),
for scoring long histories without a Python loop per window; a property test holds the
two to the same states.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from shopfloor.model.timestamps import NS_PER_S

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "Level",
    "Persistence",
    "Transition",
    "k_of_n_active",
    "run_starts",
    "threshold_level",
]


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


def threshold_level(
    value: float, *, above: bool, threshold: float, clear: float, reaching: bool = False
) -> Level:
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
    reaching
        Count a value equal to ``threshold`` as beyond (a model's score "reaches" its
        calibrated level).

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
    if reaching and value == threshold:
        return Level.BEYOND
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
    k_of_n
        ``(k, n)``: raise when ``k`` of the last ``n`` values since the last gap were
        beyond (the current one beyond too), instead of ``for_s`` (which must then be 0).
    gap_clears
        A gap also drops a raised condition (transition ``cleared``, or ``unknown`` when
        the value after the gap is unknown; none when that value raises it again).

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
    k_of_n: tuple[int, int] | None = None
    gap_clears: bool = False
    active: bool = False
    unknown: bool = False
    pending_since: int | None = None
    clearing_since: int | None = None
    last_ns: int | None = None
    recent: deque[bool] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.k_of_n is None:
            return
        k, n = self.k_of_n
        if not 1 <= k <= n:
            raise ValueError(f"persistence k_of_n needs 1 ≤ k ≤ n, got k={k!r}, n={n!r}")
        if self.for_s:
            raise ValueError(f"persistence counts k_of_n or for_s, got both ({self.for_s} s)")
        self.recent = deque(self.recent, maxlen=n)

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
        self.recent.clear()

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
        dropped = False
        if self._after_gap(t_ns):
            self.pending_since = self.clearing_since = None
            self.recent.clear()
            dropped = self.active and self.gap_clears
            self.active = self.active and not dropped
        if self.k_of_n is not None:
            self.recent.append(level is Level.BEYOND)
        if level is Level.UNKNOWN:
            self.pending_since = self.clearing_since = None
            if self.unknown:
                return Transition.CLEARED if dropped else None
            self.unknown = True
            return Transition.UNKNOWN
        self.unknown = False
        if not self.active:
            raised = self._raises(t_ns, level)
            if dropped and not raised:
                return Transition.CLEARED
            if raised:
                self.active = True
                return None if dropped else Transition.RAISED
            return None
        if level is not Level.BACK:
            self.clearing_since = None
            return None
        self.clearing_since = t_ns if self.clearing_since is None else self.clearing_since
        if t_ns - self.clearing_since < self.clear_for_s * NS_PER_S:
            return None
        self.active, self.clearing_since = False, None
        return Transition.CLEARED

    def _raises(self, t_ns: int, level: Level) -> bool:
        """Whether ``level`` at ``t_ns`` raises the (not raised) condition."""
        if level is not Level.BEYOND:
            self.pending_since = None
            return False
        if self.k_of_n is not None:
            return sum(self.recent) >= self.k_of_n[0]
        self.pending_since = t_ns if self.pending_since is None else self.pending_since
        if t_ns - self.pending_since < self.for_s * NS_PER_S:
            return False
        self.pending_since = None
        return True


def run_starts(t_ns: npt.ArrayLike, max_gap_ns: int) -> BoolArray:
    """Whether each value starts a new run: the first, and any after a gap.

    Parameters
    ----------
    t_ns
        Times of the values (integer nanoseconds), strictly increasing.
    max_gap_ns
        Longest step that is not a gap (the hop of windows).

    Returns
    -------
    numpy.ndarray of bool
        ``starts[0] = True``; ``starts[i] = t[i] - t[i-1] > max_gap_ns``.

    Raises
    ------
    ValueError
        When ``max_gap_ns`` is not positive or the times do not increase.
    """
    import numpy as np

    t = np.asarray(t_ns, dtype=np.int64)
    if max_gap_ns <= 0:
        raise ValueError(f"the longest step (hop) must be > 0 ns, got {max_gap_ns!r}")
    step = np.diff(t)
    if (step <= 0).any():
        i = int(np.argmax(step <= 0)) + 1
        raise ValueError(f"times must increase: value {i} is at {t[i]} after {t[i - 1]}")
    starts: BoolArray = np.concatenate([np.ones(min(t.size, 1), dtype=bool), step > max_gap_ns])
    return starts


def k_of_n_active(
    beyond: BoolArray,
    back: BoolArray,
    starts: BoolArray,
    *,
    k: int,
    n: int,
    gap_clears: bool = True,
) -> BoolArray:
    """Whether the condition stands raised at each value: :class:`Persistence`, vectorized.

    The states of ``Persistence(k_of_n=(k, n), gap_clears=gap_clears)`` fed the same
    values (clearing at the first value back), computed with cumulative sums instead of a
    loop: the count of beyond values among the last ``n`` of a run is a difference of a
    cumulative sum, and raise/clear is a set-reset latch (on from the last raise until a
    later clear or, with ``gap_clears``, a later run start).

    Parameters
    ----------
    beyond, back
        :attr:`Level.BEYOND` and :attr:`Level.BACK` of each value (neither: between or
        unknown).
    starts
        First value of each run (:func:`run_starts`).
    k, n
        Raise when ``k`` of the last ``n`` values of the run are beyond.

    Returns
    -------
    numpy.ndarray of bool
        Raised (``True``) or not after each value.

    Examples
    --------
    >>> import numpy as np
    >>> beyond = np.array([1, 1, 0, 1, 1, 1], dtype=bool)
    >>> back = ~beyond
    >>> starts = np.array([1, 0, 0, 0, 1, 0], dtype=bool)  # a gap before value 4
    >>> k_of_n_active(beyond, back, starts, k=2, n=3).astype(int).tolist()
    [0, 1, 0, 1, 0, 1]
    """
    import numpy as np

    if not 1 <= k <= n:
        raise ValueError(f"persistence k_of_n needs 1 ≤ k ≤ n, got k={k!r}, n={n!r}")
    index = np.arange(beyond.size)
    run_first = np.maximum.accumulate(np.where(starts, index, 0))
    cum = np.concatenate([[0], np.cumsum(beyond, dtype=np.int64)])
    count = cum[index + 1] - cum[np.maximum(index - n + 1, run_first)]
    raise_ = beyond & (count >= k)
    reset = back | (starts & ~raise_) if gap_clears else back
    last_raise = np.maximum.accumulate(np.where(raise_, index, -1))
    last_reset = np.maximum.accumulate(np.where(reset, index, -1))
    active: BoolArray = last_raise > last_reset
    return active
