"""The one threshold state machine: persistence, hysteresis, unknown values and gaps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopfloor.model.condition import (
    Level,
    Persistence,
    Transition,
    k_of_n_active,
    run_starts,
    threshold_level,
)

S = 1_000_000_000


def run(p: Persistence, levels: list[tuple[int, Level]]) -> list[tuple[int, Transition]]:
    return [(t, tr) for t, lv in levels if (tr := p.step(t, lv)) is not None]


def test_raises_after_for_s_and_not_before() -> None:
    p = Persistence(for_s=3.0)
    out = run(p, [(t * S, Level.BEYOND) for t in range(6)])
    assert out == [(3 * S, Transition.RAISED)]


def test_between_restarts_the_count() -> None:
    p = Persistence(for_s=2.0)
    levels = [
        (0, Level.BEYOND),
        (1 * S, Level.BETWEEN),
        (2 * S, Level.BEYOND),
        (3 * S, Level.BEYOND),
    ]
    assert run(p, levels) == []
    assert p.step(4 * S, Level.BEYOND) is Transition.RAISED


def test_hysteresis_band_does_not_clear() -> None:
    p = Persistence()
    assert p.step(0, Level.BEYOND) is Transition.RAISED
    assert p.step(1, Level.BETWEEN) is None
    assert p.active
    assert p.step(2, Level.BACK) is Transition.CLEARED


def test_unknown_is_never_back_to_normal() -> None:
    p = Persistence(clear_for_s=2.0)
    p.step(0, Level.BEYOND)
    assert p.step(1 * S, Level.BACK) is None
    assert p.step(2 * S, Level.UNKNOWN) is Transition.UNKNOWN
    assert p.step(3 * S, Level.UNKNOWN) is None
    assert p.active and p.state == "unknown"
    # the clearing count restarted at the first known value after the unknown ones
    assert p.step(4 * S, Level.BACK) is None
    assert p.step(5 * S, Level.BACK) is None
    assert p.step(6 * S, Level.BACK) is Transition.CLEARED


def test_a_gap_restarts_persistence() -> None:
    p = Persistence(for_s=10.0, max_gap_ns=5 * S)
    assert run(p, [(0, Level.BEYOND), (60 * S, Level.BEYOND)]) == []
    assert p.step(70 * S, Level.BEYOND) is None  # 10 s since 60, but gap of 10 s > 5 s
    assert run(p, [(t * S, Level.BEYOND) for t in range(72, 84, 2)]) == [
        (80 * S, Transition.RAISED)
    ]


def test_threshold_level_below() -> None:
    assert threshold_level(1.0, above=False, threshold=2.0, clear=3.0) is Level.BEYOND
    assert threshold_level(2.5, above=False, threshold=2.0, clear=3.0) is Level.BETWEEN
    assert threshold_level(3.5, above=False, threshold=2.0, clear=3.0) is Level.BACK
    assert threshold_level(math.inf, above=False, threshold=2.0, clear=3.0) is Level.UNKNOWN


levels = st.lists(st.sampled_from(list(Level)), max_size=60)


@given(levels, st.floats(0, 5), st.floats(0, 5), st.data())
def test_transitions_alternate_and_never_clear_on_unknown(
    seq: list[Level], for_s: float, clear_for_s: float, data: st.DataObject
) -> None:
    gaps = data.draw(st.lists(st.integers(1, 3 * S), min_size=len(seq), max_size=len(seq)))
    times = [sum(gaps[: i + 1]) for i in range(len(seq))]
    p = Persistence(for_s, clear_for_s, max_gap_ns=2 * S)
    raised_or_cleared = []
    for t, lv in zip(times, seq, strict=True):
        tr = p.step(t, lv)
        if tr is Transition.CLEARED:
            assert lv is Level.BACK
        if tr is Transition.RAISED:
            assert lv is Level.BEYOND
        if tr in (Transition.RAISED, Transition.CLEARED):
            raised_or_cleared.append(tr)
    assert all(a != b for a, b in itertools.pairwise(raised_or_cleared))


def test_a_learned_step_finds_gaps() -> None:
    p = Persistence(for_s=2.0, learn_gap=True)
    assert run(p, [(0, Level.BEYOND), (1 * S, Level.BEYOND), (5 * S, Level.BEYOND)]) == []
    assert p.max_gap_ns == S
    assert p.step(6 * S, Level.BEYOND) is None
    assert p.step(7 * S, Level.BEYOND) is Transition.RAISED


def test_k_of_n_counts_windows_not_time() -> None:
    p = Persistence(k_of_n=(2, 3))
    seq = [Level.BEYOND, Level.BETWEEN, Level.BEYOND, Level.BACK, Level.UNKNOWN, Level.BEYOND]
    out = run(p, [(t * S, lv) for t, lv in enumerate(seq)])
    # 2 of the last 3 at t=2; cleared at t=3; unknown at 4; 1 of the last 3 at t=5
    assert out == [
        (2 * S, Transition.RAISED),
        (3 * S, Transition.CLEARED),
        (4 * S, Transition.UNKNOWN),
    ]


def test_k_of_n_refuses_bad_counts() -> None:
    with pytest.raises(ValueError, match="k ≤ n"):
        Persistence(k_of_n=(3, 2))
    with pytest.raises(ValueError, match="for_s"):
        Persistence(for_s=1.0, k_of_n=(1, 2))
    with pytest.raises(ValueError, match="k ≤ n"):
        k_of_n_active(np.ones(2, bool), np.zeros(2, bool), np.ones(2, bool), k=0, n=1)
    with pytest.raises(ValueError, match="increase"):
        run_starts([0, 2, 2], 1)


def test_gap_clears_drops_a_raised_condition() -> None:
    p = Persistence(k_of_n=(1, 1), max_gap_ns=S, gap_clears=True)
    assert p.step(0, Level.BEYOND) is Transition.RAISED
    assert p.step(5 * S, Level.BETWEEN) is Transition.CLEARED and not p.active
    assert p.step(6 * S, Level.BEYOND) is Transition.RAISED
    assert p.step(9 * S, Level.BEYOND) is None and p.active  # dropped and raised again


@given(
    st.lists(st.sampled_from(list(Level)), max_size=60),
    st.lists(st.integers(1, 3), min_size=60, max_size=60),
    st.integers(1, 4),
    st.integers(0, 3),
    st.booleans(),
)
def test_vectorized_k_of_n_is_the_same_machine(
    seq: list[Level], steps: list[int], n: int, k_less: int, gap_clears: bool
) -> None:
    k = max(1, n - k_less)
    times = np.cumsum(steps[: len(seq)]) * S
    p = Persistence(k_of_n=(k, n), max_gap_ns=S, gap_clears=gap_clears)
    one_by_one = []
    for t, lv in zip(times.tolist(), seq, strict=True):
        p.step(t, lv)
        one_by_one.append(p.active)
    beyond = np.array([lv is Level.BEYOND for lv in seq], dtype=bool)
    back = np.array([lv is Level.BACK for lv in seq], dtype=bool)
    starts = run_starts(times, S)
    got = k_of_n_active(beyond, back, starts, k=k, n=n, gap_clears=gap_clears)
    assert got.tolist() == one_by_one


def test_reaching_counts_the_threshold_itself() -> None:
    assert threshold_level(4.0, above=True, threshold=4.0, clear=3.0) is Level.BETWEEN
    assert threshold_level(4.0, above=True, threshold=4.0, clear=3.0, reaching=True) is (
        Level.BEYOND
    )
