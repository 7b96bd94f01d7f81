"""Datasets from the store: a pipeline's features over time ranges, with labels and splits.

A :class:`Dataset` is one row per window the pipeline cuts from stored history (its
features step's output, in physical units), with the window's start and end, operating
regime and context, the label people gave its time range (:class:`~shopfloor.model.
Annotation`: ``healthy``, ``fault:<type>``; windows in ``ignore`` ranges are dropped) and
a content hash that names exactly this data.

Splits are by time or by group (a recording, an experiment, a bearing), never by random
window: windows of one recording are near-duplicates, and a random split would test a
model on copies of what it learned. A :class:`Split` says what it did in a dict that goes
into the model card.

Labels from events (maintenance records, tool changes) are a later addition: they would
become annotations joined the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import FloatMatrix
from shopfloor.model import Annotation, format_ns
from shopfloor.pipelines import FeatureFrame, Pipeline, read_features
from shopfloor.store import Store

__all__ = [
    "PARTS",
    "Dataset",
    "Split",
    "build_dataset",
    "join_labels",
    "split_by_group",
    "split_by_time",
]

PARTS = ("train", "calibration", "test")
"""The parts of a split, in time order: learn, set thresholds, measure."""

Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Windows × features of one pipeline over time ranges, with labels.

    Attributes
    ----------
    asset, pipeline, spec_hash
        The asset, the pipeline's name and the hash of its specification.
    x, feature_names, units
        The features (float64, windows × features), their names and units.
    t0_ns, t1_ns
        Each window's first sample and exclusive end (UTC nanoseconds).
    regime
        Each window's operating regime (``None`` without a regime rule).
    labels
        Each window's label (``healthy``, ``fault:<type>``) or ``None`` (unlabelled).
    groups
        Group columns for splits: ``range`` (which of :attr:`ranges` the window came
        from) and each context signal of the pipeline (its value over the window).
    ranges
        The time ranges read, ``[start_ns, end_ns)``.
    ignored
        Windows dropped because an ``ignore`` label covered them.
    """

    asset: str
    pipeline: str
    spec_hash: str
    x: FloatMatrix
    feature_names: list[str]
    units: dict[str, str]
    t0_ns: Int64s
    t1_ns: Int64s
    regime: list[str | None]
    labels: list[str | None]
    groups: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    ignored: int = 0

    def __len__(self) -> int:
        return int(self.t0_ns.shape[0])

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the feature matrix, names, window times, labels and pipeline hash."""
        digest = hashlib.sha256()
        digest.update(self.spec_hash.encode())
        digest.update(json.dumps(self.feature_names).encode())
        digest.update(np.ascontiguousarray(self.x, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.t0_ns, dtype="<i8").tobytes())
        digest.update(json.dumps(self.labels).encode())
        return digest.hexdigest()

    def subset(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Dataset:
        """The same dataset restricted to ``rows`` (indices or a mask)."""
        idx = np.arange(len(self))[rows]
        return Dataset(
            asset=self.asset,
            pipeline=self.pipeline,
            spec_hash=self.spec_hash,
            x=self.x[idx],
            feature_names=list(self.feature_names),
            units=dict(self.units),
            t0_ns=self.t0_ns[idx],
            t1_ns=self.t1_ns[idx],
            regime=[self.regime[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            groups={k: v[idx] for k, v in self.groups.items()},
            ranges=list(self.ranges),
            ignored=self.ignored,
        )

    def label_counts(self) -> dict[str, int]:
        """Windows per label (``unlabelled`` for ``None``)."""
        counts: dict[str, int] = {}
        for label in self.labels:
            key = label or "unlabelled"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def describe(self) -> dict[str, Any]:
        """What the model card says of the dataset."""
        return {
            "hash": self.content_hash,
            "asset": self.asset,
            "pipeline": self.pipeline,
            "ranges": [[format_ns(a), format_ns(b)] for a, b in self.ranges],
            "windows": len(self),
            "features": len(self.feature_names),
            "labels": self.label_counts(),
            "ignored_windows": self.ignored,
            "regimes": sorted({r or "-" for r in self.regime}),
        }


def join_labels(
    t0_ns: Int64s,
    t1_ns: Int64s,
    annotations: Sequence[Annotation],
    *,
    asset: str,
    signals: Sequence[str],
) -> tuple[list[str | None], npt.NDArray[np.bool_]]:
    """Each window's label, and which windows to keep (those not in an ``ignore`` range).

    An annotation applies when its asset is ``asset`` or above it, its signal is ``None``
    or one of ``signals``, and its range overlaps the window. When several apply:
    ``ignore`` wins, then a fault (the most recently made), then ``healthy``.
    """
    n = int(t0_ns.shape[0])
    rank = np.zeros(n, np.int8)  # 0 none, 1 healthy, 2 fault, 3 ignore
    made = np.full(n, -1, np.int64)
    labels: list[str | None] = [None] * n
    wanted = set(signals)
    levels = {"healthy": 1, "ignore": 3}
    for a in annotations:  # few annotations, many windows: vectorized over the windows
        if not (asset == a.asset or asset.startswith(a.asset.rstrip("/") + "/")):
            continue
        if a.signal is not None and a.signal not in wanted:
            continue
        level = levels.get(a.label, 2)
        hit = (t0_ns < a.end_ns) & (t1_ns > a.start_ns)
        better = hit & ((rank < level) | ((rank == level) & (made <= a.created_ns)))
        rank[better] = level
        made[better] = a.created_ns
        for i in np.flatnonzero(better):
            labels[i] = a.label
    return labels, rank != 3


async def build_dataset(
    store: Store,
    pipeline: Pipeline,
    ranges: Sequence[tuple[int, int]],
    *,
    annotations: Sequence[Annotation] = (),
    progress: Any = None,
) -> Dataset:
    """The pipeline's features over ``ranges`` of stored history, labelled.

    Parameters
    ----------
    store
        Where the history is.
    pipeline
        The pipeline whose features step makes the columns (later steps do not run: a
        model learns from the physical values).
    ranges
        ``[start_ns, end_ns)`` ranges, read in order (e.g. one per recording).
    annotations
        Labels to join (see :func:`join_labels`); windows under ``ignore`` are dropped.
    progress
        Told ``(done_ns, total_ns)`` per range read, as the pipelines' history runner does.

    Raises
    ------
    ModelError
        When no range is given, or the ranges hold no window.
    """
    if not ranges:
        raise ModelError(f"dataset of pipeline {pipeline.name!r}: no time range given")
    frames: list[FeatureFrame] = []
    which: list[Int64s] = []
    for number, (start_ns, end_ns) in enumerate(ranges):
        frame = await read_features(store, pipeline, start_ns, end_ns, progress=progress)
        frames.append(frame)
        which.append(np.full(len(frame), number, np.int64))
    frame = FeatureFrame.concat(frames)
    if len(frame) == 0:
        spans = ", ".join(f"{format_ns(a)} .. {format_ns(b)}" for a, b in ranges)
        raise ModelError(
            f"pipeline {pipeline.name!r} cut no window in {spans} (no data stored there, or "
            "its gate kept none)"
        )
    names = list(frame.columns)
    signals = [r.name for r in pipeline.signal_refs]
    labels, keep = join_labels(
        frame.t0_ns, frame.t1_ns, annotations, asset=pipeline.asset.path, signals=signals
    )
    groups: dict[str, npt.NDArray[Any]] = {"range": np.concatenate(which)}
    groups.update({f"context.{k}": v for k, v in frame.context.items()})
    full = Dataset(
        asset=pipeline.asset.path,
        pipeline=pipeline.name,
        spec_hash=pipeline.spec_hash,
        x=frame.matrix(names),
        feature_names=names,
        units={n: frame.units.get(n, "") for n in names},
        t0_ns=frame.t0_ns,
        t1_ns=frame.t1_ns,
        regime=list(frame.regime) or [None] * len(frame),
        labels=labels,
        groups=groups,
        ranges=[(int(a), int(b)) for a, b in ranges],
    )
    if bool(keep.all()):
        return full
    return replace(full.subset(keep), ignored=int((~keep).sum()))


@dataclass(frozen=True)
class Split:
    """Row indices of each part (``train``, ``calibration``, ``test``) and how it was made."""

    parts: dict[str, npt.NDArray[np.intp]]
    description: dict[str, Any]

    def part(self, dataset: Dataset, name: str) -> Dataset:
        """The rows of part ``name``."""
        return dataset.subset(self.parts[name])


_ROUND_OFF = 1e-9
"""A rest of 1 this small is the round-off of the fractions given, not a test part."""


def _fractions(values: Sequence[float]) -> tuple[float, float, float]:
    fr = [float(v) for v in values]
    if len(fr) == 2:
        rest = 1.0 - fr[0] - fr[1]
        fr.append(rest if rest > _ROUND_OFF else 0.0)  # 1 - 0.7 - 0.3 is 5.6e-17, not a part
    if len(fr) != 3 or any(not math.isfinite(v) or v < 0 for v in fr) or fr[0] <= 0:
        raise ModelError(
            f"split fractions {list(values)}: give train,calibration[,test] fractions, "
            "each ≥ 0, train > 0"
        )
    total = sum(fr)
    if total > 1.0 + 1e-9:
        raise ModelError(f"split fractions {list(values)} add up to {total:g}, more than 1")
    return fr[0], fr[1], fr[2]


def _describe_parts(
    dataset: Dataset, parts: dict[str, npt.NDArray[np.intp]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, rows in parts.items():
        info: dict[str, Any] = {"windows": int(rows.shape[0])}
        if rows.shape[0]:
            info["from"] = format_ns(int(dataset.t0_ns[rows].min()))
            info["to"] = format_ns(int(dataset.t1_ns[rows].max()))
        out[name] = info
    return out


def split_by_time(
    dataset: Dataset,
    *,
    fractions: Sequence[float] | None = None,
    cuts_ns: Sequence[int] | None = None,
) -> Split:
    """Train, then calibration, then test, in time order.

    Parameters
    ----------
    fractions
        Of the windows (in time order): ``(train, calibration[, test])``; the rest of 1
        is the test part when two are given. Default ``(0.7, 0.15, 0.15)``.
    cuts_ns
        Instead of fractions, one or two times: train before the first, calibration up
        to the second, test after. A window that spans a cut is left out (it would hold
        data of both sides).
    """
    order = np.argsort(dataset.t0_ns, kind="stable")
    n = len(dataset)
    description: dict[str, Any] = {"by": "time"}
    if cuts_ns is not None:
        cuts = sorted(int(c) for c in cuts_ns)
        if len(cuts) not in (1, 2):
            raise ModelError(f"split cut times: give one or two, got {len(cuts)}")
        if len(cuts) == 1:
            cuts.append(cuts[0])  # no calibration part
        edges = [np.iinfo(np.int64).min, *cuts, np.iinfo(np.int64).max]
        t0, t1 = dataset.t0_ns[order], dataset.t1_ns[order]
        parts = {
            name: order[(t0 >= lo) & (t1 <= hi)]
            for name, lo, hi in zip(PARTS, edges[:-1], edges[1:], strict=True)
        }
        description["cuts"] = [format_ns(c) for c in cuts]
        description["straddling_dropped"] = int(n - sum(p.shape[0] for p in parts.values()))
    else:
        f_train, f_cal, f_test = _fractions(fractions or (0.7, 0.15, 0.15))
        n_train = math.floor(f_train * n)
        n_cal = math.floor(f_cal * n)
        n_test = min(n - n_train - n_cal, math.ceil(f_test * n)) if f_test > 0 else 0
        bounds = np.cumsum([0, n_train, n_cal, n_test])
        parts = {name: order[bounds[i] : bounds[i + 1]] for i, name in enumerate(PARTS)}
        description["fractions"] = [f_train, f_cal, f_test]
    if parts["train"].shape[0] == 0:
        raise ModelError(f"split by time of {n} windows left no training window")
    description["parts"] = _describe_parts(dataset, parts)
    return Split(parts, description)


def split_by_group(
    dataset: Dataset, column: str, *, fractions: Sequence[float] = (0.6, 0.2, 0.2)
) -> Split:
    """Whole groups (recordings, experiments, bearings) to each part, never one split.

    Groups are taken in the order they first appear in time; the first ``train``
    fraction of them (at least one) trains, the next calibrates, the rest test.

    Parameters
    ----------
    column
        ``range`` (which time range a window came from) or ``context.<signal>`` (a context
        signal of the pipeline holding a recording, experiment or bearing number).
    """
    if column not in dataset.groups:
        known = ", ".join(sorted(dataset.groups))
        raise ModelError(f"split by group {column!r}: no such column (columns: {known})")
    values = dataset.groups[column]
    keys = np.array([str(v) for v in values])
    order = np.argsort(dataset.t0_ns, kind="stable")
    seen = list(dict.fromkeys(keys[order].tolist()))
    f_train, f_cal, _ = _fractions(fractions)
    g = len(seen)
    n_train = max(1, math.floor(f_train * g))
    n_cal = min(g - n_train, math.floor(f_cal * g))
    assigned = {
        key: PARTS[0] if i < n_train else PARTS[1] if i < n_train + n_cal else PARTS[2]
        for i, key in enumerate(seen)
    }
    parts = {
        name: np.flatnonzero(np.array([assigned[k] == name for k in keys], dtype=bool))
        for name in PARTS
    }
    description: dict[str, Any] = {
        "by": "group",
        "column": column,
        "fractions": [f_train, f_cal, max(0.0, 1 - f_train - f_cal)],
        "groups": {name: [k for k in seen if assigned[k] == name] for name in PARTS},
        "parts": _describe_parts(dataset, parts),
    }
    return Split(parts, description)
