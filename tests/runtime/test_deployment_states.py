"""Live states equal the series function's, however the windows are cut into batches."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.ml.calibration import Thresholds, alert_states
from shopfloor.runtime.deployments import ScoreStates, state_code, state_from_code

TH = Thresholds(baseline=0.0, warning=2.0, alarm=4.0, hysteresis=0.25)

scores = st.lists(
    st.one_of(st.floats(-1, 6, allow_nan=False), st.just(math.nan)), min_size=1, max_size=60
)


@settings(max_examples=200, deadline=None)
@given(
    values=scores,
    gaps=st.lists(st.integers(1, 3), min_size=60, max_size=60),
    cuts=st.lists(st.integers(1, 7), min_size=1, max_size=20),
    k=st.integers(1, 4),
    extra=st.integers(0, 3),
)
def test_chunked_live_states_equal_the_series_states(
    values: list[float], gaps: list[int], cuts: list[int], k: int, extra: int
) -> None:
    n = k + extra
    t0 = np.cumsum([1] + [1 if g < 3 else 5 for g in gaps[: len(values) - 1]]).tolist()
    expected = alert_states(values, t0, 1, TH, k=k, n=n).tolist()
    live = ScoreStates(TH, 1, k=k, n=n)
    got: list[str] = []
    i, c = 0, 0
    while i < len(values):
        step = cuts[c % len(cuts)]
        got += live.run(t0[i : i + step], values[i : i + step])
        i, c = i + step, c + 1
    assert got == expected


def test_seeded_states_take_up_where_a_run_left_off() -> None:
    values = [0, 5, 5, 5, 3.5, 3.5, 0, 5, 5, 5, 5, 1, 5]
    t0 = list(range(len(values)))
    expected = alert_states(values, t0, 1, TH, k=3, n=5).tolist()
    for cut in range(1, len(values)):
        fresh = ScoreStates(TH, 1, k=3, n=5)
        fresh.seed(t0[:cut], values[:cut], expected[cut - 1])
        assert fresh.run(t0[cut:], values[cut:]) == expected[cut:], cut


def test_state_codes_round_trip() -> None:
    for state in ("normal", "warning", "alarm", "unknown"):
        assert state_from_code(state_code(state)) == state
