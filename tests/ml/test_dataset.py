"""Datasets: labels joined to windows, content hash, splits by time and by group."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopfloor.errors import ModelError
from shopfloor.ml.dataset import Dataset, join_labels, split_by_group, split_by_time
from shopfloor.model import Annotation

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
S = 1_000_000_000


def _dataset(n: int = 20, groups: list[int] | None = None) -> Dataset:
    t0 = np.arange(n, dtype=np.int64) * S
    return Dataset(
        asset=ASSET,
        pipeline="p",
        spec_hash="0" * 64,
        x=np.arange(n * 2, dtype=np.float64).reshape(n, 2),
        feature_names=["a", "b"],
        units={"a": "g", "b": ""},
        t0_ns=t0,
        t1_ns=t0 + S,
        regime=[None] * n,
        labels=[None] * n,
        groups={"range": np.array(groups if groups is not None else [i // 5 for i in range(n)])},
    )


def _label(label: str, start_s: float, end_s: float, **kw: object) -> Annotation:
    return Annotation(ASSET, int(start_s * S), int(end_s * S), label, **kw)  # type: ignore[arg-type]


def test_labels_join_ignore_first_then_the_newest_fault_then_healthy() -> None:
    t0 = np.arange(10, dtype=np.int64) * S
    annotations = [
        _label("healthy", 0, 10),
        _label("fault:outer_race", 4, 6, created_ns=1),
        _label("fault:inner_race", 5, 7, created_ns=2),
        _label("ignore", 8.5, 9),
        _label("fault:ball", 0, 2, signal="other_signal"),  # another signal: not joined
        Annotation("acme/plant1/machining/line1/cell1/cnc-02", 0, 10 * S, "ignore"),
    ]
    labels, keep = join_labels(t0, t0 + S, annotations, asset=ASSET, signals=["accel"])
    assert labels[:4] == ["healthy"] * 4
    assert labels[4:7] == ["fault:outer_race", "fault:inner_race", "fault:inner_race"]
    assert labels[7] == "healthy"
    assert keep.tolist() == [True] * 8 + [False, True]


def test_labels_on_a_parent_asset_apply_below_it() -> None:
    t0 = np.arange(3, dtype=np.int64) * S
    parent = Annotation("acme/plant1/machining/line1/cell1/cnc", 0, S, "ignore")  # not a parent
    line = Annotation("acme/plant1/machining/line1/cell1/cnc-01", 0, S, "healthy")
    labels, keep = join_labels(t0, t0 + S, [parent, line], asset=ASSET, signals=[])
    assert labels == ["healthy", None, None] and keep.all()


def test_content_hash_names_the_data() -> None:
    a, b = _dataset(), _dataset()
    assert a.content_hash == b.content_hash and len(a.content_hash) == 64
    changed = _dataset()
    changed.x[3, 1] += 1e-12
    assert changed.content_hash != a.content_hash
    labelled = _dataset()
    labelled.labels[0] = "healthy"
    assert labelled.content_hash != a.content_hash


def test_split_by_time_fractions_keeps_time_order() -> None:
    data = _dataset(20)
    split = split_by_time(data, fractions=(0.6, 0.2, 0.2))
    sizes = {k: len(v) for k, v in split.parts.items()}
    assert sizes == {"train": 12, "calibration": 4, "test": 4}
    assert data.t0_ns[split.parts["train"]].max() < data.t0_ns[split.parts["calibration"]].min()
    assert split.description["by"] == "time"
    assert split.description["parts"]["test"]["to"] == "1970-01-01T00:00:20Z"


def test_two_fractions_adding_up_to_one_leave_no_test_part() -> None:
    split = split_by_time(_dataset(98), fractions=(0.7, 0.3))  # 1 - 0.7 - 0.3 is not 0.0
    assert {k: len(v) for k, v in split.parts.items()} == {
        "train": 68,
        "calibration": 29,
        "test": 0,
    }
    assert split.description["fractions"] == [0.7, 0.3, 0.0]


def test_split_by_time_cuts_drop_windows_that_straddle_a_cut() -> None:
    data = _dataset(20)
    split = split_by_time(data, cuts_ns=[int(10.5 * S), 15 * S])
    assert len(split.parts["train"]) == 10  # window 10 spans 10.5 s
    assert len(split.parts["calibration"]) == 4 and len(split.parts["test"]) == 5
    assert split.description["straddling_dropped"] == 1


def test_split_by_group_never_splits_a_group() -> None:
    data = _dataset(20)
    split = split_by_group(data, "range", fractions=(0.5, 0.25, 0.25))
    for part, rows in split.parts.items():
        groups = set(data.groups["range"][rows].tolist())
        for other, rows2 in split.parts.items():
            if other != part:
                assert not groups & set(data.groups["range"][rows2].tolist())
    assert split.description["groups"] == {"train": ["0", "1"], "calibration": ["2"], "test": ["3"]}
    with pytest.raises(ModelError, match="no such column"):
        split_by_group(data, "bearing")


@pytest.mark.parametrize("fractions", [(0.0, 0.5), (0.8, 0.5), (float("nan"), 0.1), (0.5,)])
def test_bad_fractions_are_refused(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ModelError, match="fractions"):
        split_by_time(_dataset(), fractions=fractions)


@given(
    n=st.integers(1, 200),
    train=st.floats(0.05, 1.0),
    cal=st.floats(0.0, 1.0),
)
def test_time_split_parts_are_disjoint_and_ordered(n: int, train: float, cal: float) -> None:
    cal = min(cal, 1.0 - train)
    data = _dataset(n, groups=[0] * n)
    try:
        split = split_by_time(data, fractions=(train, cal))
    except ModelError:  # too few windows to train on
        assert np.floor(train * n) == 0
        return
    rows = np.concatenate(list(split.parts.values()))
    assert len(rows) == len(set(rows.tolist())) <= n
    ends = [data.t0_ns[r].max() for r in split.parts.values() if len(r)]
    assert ends == sorted(ends)
