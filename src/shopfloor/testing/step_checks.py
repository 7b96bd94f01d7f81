"""The contract every pipeline step kind keeps (:data:`~shopfloor.pipelines.STEP_KINDS`).

Each check states its invariant in its docstring and takes a step kind with the parameters
of one example of it. :data:`STEP_EXAMPLES` holds the examples of every built-in kind; a
new kind registers its examples there (the meta-check in ``tests/pipelines`` fails for a
kind without any), as scikit-learn's ``parametrize_with_checks`` runs every check over
every estimator.

Example::

    from shopfloor.testing import STEP_EXAMPLES, check_step

    for kind, examples in STEP_EXAMPLES.items():
        for params in examples:
            check_step(kind, params)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.model import Asset, Provenance, Record, ScalarBatch, Signal, SignalRef, WaveformBlock
from shopfloor.pipelines.config import PipelineConfig
from shopfloor.pipelines.frames import FeatureFrame, WindowBatch
from shopfloor.pipelines.pipeline import Pipeline
from shopfloor.pipelines.steps import Step, build_step

__all__ = ["STEP_CHECKS", "STEP_EXAMPLES", "check_step", "example_windows"]

ASSET = Asset(
    path="acme/plant1/machining/line1/cell1/check",
    signals=[
        Signal(name="acc", kind="waveform", unit="g", sample_rate_hz=4096, channels=["x", "y"]),
        Signal(name="speed", unit="rpm"),
    ],
)
CONTEXT_UNITS = {"speed": "rpm"}
_PROV = Provenance("check", "step")
RATE_HZ = 4096.0
N_WINDOWS = 12

STEP_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "features": [
        {"features": ["rms", "kurtosis", "crest_factor", "spectral_centroid"]},
        {
            "features": ["rms", "band_power_orders.*"],
            "bands_orders": [[0.5, 1.5]],
            "speed": "speed",
        },
    ],
    "scaler": [
        {"method": "robust"},
        {"method": "standard", "by_regime": True},
    ],
    "model": [
        {"type": "zscore"},
        {"type": "zscore", "columns": ["rms.x", "kurtosis.x"], "output": "score"},
    ],
}
"""Step kind → parameters of the examples every check runs on."""

UPSTREAM = {"features": ["rms", "kurtosis", "peak"]}
"""The features step in front of a step that takes features."""


def example_windows(n_windows: int = N_WINDOWS) -> WindowBatch:
    """Deterministic two-channel windows (a tone, its harmonic, noise) in two regimes."""
    rng = np.random.default_rng(7)
    n = 1024
    t = np.arange(n) / RATE_HZ
    amp = 1.0 + 0.1 * rng.standard_normal((n_windows, 2, 1))
    data = amp * np.sin(2 * np.pi * 100.0 * t) + 0.2 * np.sin(2 * np.pi * 200.0 * t)
    data = data + 0.05 * rng.standard_normal((n_windows, 2, n))
    t0 = 1_714_521_600 * 10**9 + np.arange(n_windows, dtype=np.int64) * 250_000_000
    return WindowBatch(
        t0,
        t0 + 250_000_000,
        data,
        ["x", "y"],
        RATE_HZ,
        {"speed": np.where(np.arange(n_windows) % 2 == 0, 1800.0, 3600.0)},
        ["0-3000" if i % 2 == 0 else "3000-6000" for i in range(n_windows)],
    )


class _Case:
    """A step built from its example, with the features step it needs in front."""

    def __init__(self, kind: str, params: dict[str, Any]) -> None:
        self.kind = kind
        self.step: Step = build_step(kind, copy.deepcopy(params), ASSET, CONTEXT_UNITS)
        self.upstream: Step | None = None
        if kind != "features":
            self.upstream = build_step("features", dict(UPSTREAM), ASSET, CONTEXT_UNITS)

    def data(self, windows: WindowBatch) -> Any:
        """The step's input for these windows."""
        return windows if self.upstream is None else self.upstream.transform(windows)

    def fit(self, data: Any) -> None:
        if self.step.needs_fit:
            self.step.fit(data)

    def declared(self) -> dict[str, str]:
        """Output column → unit, as the step declares them."""
        if self.upstream is None:
            columns: Callable[..., dict[str, str]] = self.step.columns
            return columns({}, ["x", "y"])
        up_columns: Callable[..., dict[str, str]] = self.upstream.columns
        return self.step.columns(up_columns({}, ["x", "y"]))


def _rows(data: Any, rows: slice) -> Any:
    if isinstance(data, WindowBatch):
        return WindowBatch(
            data.t0_ns[rows],
            data.t1_ns[rows],
            data.data[rows],
            list(data.channels),
            data.sample_rate_hz,
            {k: v[rows] for k, v in data.context.items()},
            data.regime[rows],
        )
    assert isinstance(data, FeatureFrame)
    return FeatureFrame(
        data.t0_ns[rows],
        data.t1_ns[rows],
        {k: v[rows] for k, v in data.columns.items()},
        dict(data.units),
        {k: v[rows] for k, v in data.context.items()},
        data.regime[rows],
    )


def _arrays(data: Any) -> dict[str, npt.NDArray[Any]]:
    if isinstance(data, WindowBatch):
        arrays = {"t0": data.t0_ns, "t1": data.t1_ns, "data": data.data}
    else:
        arrays = {"t0": data.t0_ns, "t1": data.t1_ns}
        arrays.update({f"column:{k}": v for k, v in data.columns.items()})
    arrays.update({f"context:{k}": v for k, v in data.context.items()})
    return {k: np.array(v, copy=True) for k, v in arrays.items()}


def _assert_same(a: FeatureFrame, b: FeatureFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns), (
        f"{what}: columns {list(a.columns)} != {list(b.columns)}"
    )
    np.testing.assert_array_equal(a.t0_ns, b.t0_ns, err_msg=f"{what}: t0_ns")
    for name in a.columns:
        np.testing.assert_allclose(
            a.columns[name], b.columns[name], rtol=1e-12, atol=0, err_msg=f"{what}: column {name!r}"
        )
    assert a.regime == b.regime, f"{what}: regimes differ"


def check_chunk_invariance(kind: str, params: dict[str, Any]) -> None:
    """Chunking does not matter: one chunk or many give the same output.

    Windows transformed all at once or 1, 2, 5 rows at a time give the same values, so
    history and live data score the same.
    """
    case = _Case(kind, params)
    data = case.data(example_windows())
    case.fit(data)
    whole = case.step.transform(data)
    for size in (1, 2, 5):
        parts = [
            case.step.transform(_rows(data, slice(i, i + size))) for i in range(0, len(whole), size)
        ]
        _assert_same(whole, FeatureFrame.concat(parts), f"{kind} step in chunks of {size}")


def check_input_not_mutated(kind: str, params: dict[str, Any]) -> None:
    """``fit`` and ``transform`` leave their input untouched (values, times, context)."""
    case = _Case(kind, params)
    data = case.data(example_windows())
    before = _arrays(data)
    regimes = list(data.regime)
    case.fit(data)
    case.step.transform(data)
    after = _arrays(data)
    assert list(after) == list(before), f"{kind} step changed the input's keys"
    for name, array in before.items():
        np.testing.assert_array_equal(after[name], array, err_msg=f"{kind} step mutated {name}")
    assert data.regime == regimes, f"{kind} step mutated the regimes"


def check_output_columns_as_declared(kind: str, params: dict[str, Any]) -> None:
    """Output columns are as declared.

    The frame a step returns has exactly the columns (in order) and units that
    ``columns()`` declares, one value per window: outputs are planned from the declaration.
    """
    case = _Case(kind, params)
    data = case.data(example_windows())
    case.fit(data)
    out = case.step.transform(data)
    declared = case.declared()
    assert list(out.columns) == list(declared), (
        f"{kind} step: columns {list(out.columns)}, declared {list(declared)}"
    )
    assert out.units == declared, f"{kind} step: units {out.units}, declared {declared}"
    for name, values in out.columns.items():
        assert values.shape == (len(data),), f"{kind} step: column {name!r} is {values.shape}"


def check_fit_then_score_is_finite(kind: str, params: dict[str, Any]) -> None:
    """Fitted on data and applied to the same data, a step gives finite values only."""
    case = _Case(kind, params)
    data = case.data(example_windows())
    case.fit(data)
    out = case.step.transform(data)
    for name, values in out.columns.items():
        assert np.all(np.isfinite(values)), f"{kind} step: column {name!r} is not finite: {values}"


def check_nan_input_does_not_crash(kind: str, params: dict[str, Any]) -> None:
    """NaN in, no crash.

    A NaN in the input (one sample of a window, or one value of a column) does not raise:
    the step returns one row per window, NaN where it cannot tell.
    """
    case = _Case(kind, params)
    windows = example_windows()
    case.fit(case.data(windows))
    windows.data[3, 0, 10] = np.nan
    data = case.data(windows)
    if isinstance(data, FeatureFrame):
        first = next(iter(data.columns))
        data.columns[first] = data.columns[first].copy()
        data.columns[first][5] = np.nan
    out = case.step.transform(data)
    for name, values in out.columns.items():
        assert values.shape == (len(windows),), f"{kind} step: column {name!r} is {values.shape}"


def check_state_round_trip(kind: str, params: dict[str, Any]) -> None:
    """What ``fit`` learned survives a save and a load.

    ``get_state`` → JSON → ``set_state`` into a fresh step: the restored step gives the
    same output (a fitted pipeline is saved and loaded so).
    """
    case = _Case(kind, params)
    data = case.data(example_windows())
    case.fit(data)
    state = json.loads(json.dumps(case.step.get_state()))
    fresh = _Case(kind, params)
    fresh.step.set_state(state)
    _assert_same(case.step.transform(data), fresh.step.transform(data), f"{kind} step restored")


def _records(seconds: int) -> list[Record]:
    """Blocks of 0.1 s of the check asset's accelerometer and 10 Hz speed samples."""
    rng = np.random.default_rng(11)
    out: list[Record] = []
    n = round(RATE_HZ / 10)
    t0 = 1_714_521_600 * 10**9
    for i in range(seconds * 10):
        t = (i * n + np.arange(n)) / RATE_HZ
        data = np.sin(2 * np.pi * 100.0 * t)[:, None] * np.array([1.0, 0.5])
        data = data + 0.05 * rng.standard_normal((n, 2))
        block_t0 = t0 + i * 100_000_000
        out.append(WaveformBlock(SignalRef(ASSET.path, "acc"), block_t0, RATE_HZ, data, "g", _PROV))
        speed = 1800.0 if (i // 20) % 2 == 0 else 3600.0
        out.append(
            ScalarBatch.of(
                SignalRef(ASSET.path, "speed"), np.array([block_t0]), np.array([speed]), _PROV
            )
        )
    return out


def _pipeline(kind: str, params: dict[str, Any]) -> Pipeline:
    steps: list[dict[str, Any]] = [{kind: copy.deepcopy(params)}]
    if kind != "features":
        steps.insert(0, {"features": dict(UPSTREAM)})
    config = PipelineConfig.model_validate(
        {
            "name": "check",
            "asset": ASSET.path,
            "sources": ["acc"],
            "context": ["speed"],
            "window": {"length_s": 0.5, "hop_s": 0.25},
            "regime": {"signal": "speed", "edges": [0, 3000, 6000]},
            "steps": steps,
        }
    )
    return Pipeline(config, ASSET)


def check_history_chunk_invariance(kind: str, params: dict[str, Any]) -> None:
    """History in one chunk or many gives the same output.

    A pipeline with this step, fed the same records all at once or record by record (as
    live data arrives), emits the same windows with the same values.
    """
    records = _records(8)
    pipeline = _pipeline(kind, params)
    windows = pipeline.start().push(records)
    assert windows is not None, f"{kind} step: no windows from the check data"
    data: Any = pipeline.transform(windows, until=1)
    for step in pipeline.steps[1:]:
        if step.needs_fit:
            step.fit(data)
        data = step.transform(data)
    outputs = []
    for chunks in ([records], [[r] for r in records]):
        run = pipeline.start()
        frames = [run.process(chunk) for chunk in chunks]
        frames.append(run.finish())
        outputs.append(FeatureFrame.concat([f for f in frames if f is not None]))
    whole, one_by_one = outputs
    assert len(whole) > 10, f"{kind} step: {len(whole)} windows from the check data"
    _assert_same(whole, one_by_one, f"{kind} step, records one by one")


STEP_CHECKS: list[Callable[[str, dict[str, Any]], None]] = [
    check_chunk_invariance,
    check_history_chunk_invariance,
    check_input_not_mutated,
    check_output_columns_as_declared,
    check_fit_then_score_is_finite,
    check_nan_input_does_not_crash,
    check_state_round_trip,
]
"""Every check a step kind passes."""


def check_step(kind: str, params: dict[str, Any]) -> None:
    """Run every check of :data:`STEP_CHECKS` on step ``kind`` built with ``params``."""
    for check in STEP_CHECKS:
        check(kind, params)
