from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shopfloor.errors import NotFittedError, PipelineConfigError, PipelineError
from shopfloor.model import (
    Asset,
    Provenance,
    ScalarBatch,
    Signal,
    SignalRef,
    WaveformBlock,
)
from shopfloor.pipelines import (
    FeatureFrame,
    Pipeline,
    PipelineConfig,
    apply_state,
    build_outputs,
    pipeline_state,
)
from shopfloor.pipelines.streams import SampleStream

A = "acme/plant1/machining/line1/cell1/m1"
T0 = 1_714_521_600 * 10**9  # a whole second
S = 10**9

ASSET = Asset(
    path=A,
    signals=[
        Signal(name="acc", kind="waveform", unit="g", sample_rate_hz=1000),
        Signal(name="acc4k", kind="waveform", unit="g", sample_rate_hz=4000),
        Signal(name="speed", unit="rpm"),
        Signal(name="temp", unit="degC"),
        Signal(name="state", unit=""),
    ],
)


def cfg(**overrides: Any) -> PipelineConfig:
    base: dict[str, Any] = {
        "name": "p",
        "asset": A,
        "sources": ["acc"],
        "window": {"length_s": 1.0},
        "steps": [{"features": {"features": ["rms", "mean"]}}],
    }
    base.update(overrides)
    return PipelineConfig.model_validate(base)


def block(t0: int, values: np.ndarray, name: str = "acc", rate: float = 1000.0) -> WaveformBlock:
    return WaveformBlock(SignalRef(A, name), t0, rate, values, "g", Provenance("t"))


def scalars(name: str, ts: np.ndarray, values: np.ndarray) -> ScalarBatch:
    return ScalarBatch.of(SignalRef(A, name), ts, values, Provenance("t"))


def tone(
    n: int, amp: float = 1.0, rate: float = 1000.0, f: float = 50.0, start: int = 0
) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f * (start + np.arange(n)) / rate)


def frames(pipeline: Pipeline, records: list[Any], one_by_one: bool) -> FeatureFrame:
    run = pipeline.start()
    out = []
    if one_by_one:
        for r in records:
            f = run.process([r])
            if f is not None:
                out.append(f)
    else:
        f = run.process(records)
        if f is not None:
            out.append(f)
    f = run.finish()
    if f is not None:
        out.append(f)
    return FeatureFrame.concat(out)


def test_tumbling_windows_align_to_the_epoch_grid() -> None:
    p = Pipeline(cfg(), ASSET)
    # blocks of 0.7 s starting 0.25 s after a whole second
    records = [
        block(T0 + 250_000_000 + i * 700_000_000, tone(700, start=i * 700)) for i in range(10)
    ]
    f = frames(p, records, one_by_one=True)
    assert len(f) == 6  # [1,2) .. [6,7) of 7.25 s of data starting at 0.25
    assert (f.t0_ns % S == 0).all()
    assert np.allclose(f.columns["rms"], 1 / np.sqrt(2), rtol=1e-3)
    same = frames(p, records, one_by_one=False)
    np.testing.assert_array_equal(same.columns["rms"], f.columns["rms"])


def test_sliding_windows_by_samples() -> None:
    p = Pipeline(cfg(window={"length_samples": 500, "hop_samples": 250}), ASSET)
    records = [block(T0 + i * S, tone(1000, start=i * 1000)) for i in range(3)]
    f = frames(p, records, one_by_one=True)
    assert np.all(np.diff(f.t0_ns) == 250_000_000)
    assert len(f) == 11  # (3000 - 500) / 250 + 1


def test_a_gap_ends_the_segment() -> None:
    p = Pipeline(cfg(), ASSET)
    records = [
        block(T0, tone(1000)),
        block(T0 + S, tone(1000)),
        block(T0 + 5 * S, tone(1000)),
        block(T0 + 6 * S, tone(1000)),
    ]
    run = p.start()
    f = run.process(records)
    assert f is not None and list(f.t0_ns) == [T0, T0 + S, T0 + 5 * S, T0 + 6 * S]
    assert run.gaps == 1


def test_redelivered_blocks_are_ignored() -> None:
    p = Pipeline(cfg(), ASSET)
    run = p.start()
    b = block(T0, tone(1000))
    assert run.process([b]) is not None
    assert run.process([b]) is None


def test_gate_keeps_only_windows_in_the_operating_state_and_regime_labels() -> None:
    p = Pipeline(
        cfg(
            context=["speed"],
            when={"signal": "speed", "between": [900, 1100]},
            regime={"signal": "speed", "edges": [0, 1000, 2000]},
        ),
        ASSET,
    )
    ts = T0 + np.arange(40) * 100_000_000
    speed = np.where(np.arange(40) < 20, 950.0, 1500.0)  # in band for 2 s, then out
    records = [block(T0 + i * S, tone(1000)) for i in range(4)] + [scalars("speed", ts, speed)]
    run = p.start()
    f = run.process(records)
    f_end = run.finish()
    total = FeatureFrame.concat([x for x in (f, f_end) if x is not None])
    assert len(total) == 2
    assert run.windows_gated_out == 2
    assert total.regime == ["0-1000", "0-1000"]
    assert total.context["speed"].tolist() == [950.0, 950.0]


def test_windows_wait_for_their_context() -> None:
    p = Pipeline(cfg(context=["speed"]), ASSET)
    run = p.start()
    assert run.process([block(T0, tone(1000))]) is None  # no speed yet: wait
    f = run.process([scalars("speed", np.array([T0 + 500_000_000, T0 + S]), np.array([1.0, 3.0]))])
    assert f is not None and f.context["speed"].tolist() == [1.0]


def test_decimation_is_chunk_invariant_and_filters() -> None:
    p = Pipeline(cfg(sources=["acc4k"], resample_hz=1000.0), ASSET)
    x = tone(8000, rate=4000.0, f=30.0) + tone(8000, rate=4000.0, f=1700.0)  # 1700 Hz aliases
    one = frames(p, [block(T0, x, "acc4k", 4000.0)], one_by_one=True)
    pieces = [
        block(T0 + i * 250_000_000, x[i * 1000 : (i + 1) * 1000], "acc4k", 4000.0) for i in range(8)
    ]
    many = frames(p, pieces, one_by_one=True)
    np.testing.assert_allclose(many.columns["rms"], one.columns["rms"], rtol=1e-12)
    # the 1700 Hz tone is filtered out before decimation: only the 30 Hz tone remains
    assert np.allclose(one.columns["rms"][1:], 1 / np.sqrt(2), rtol=0.02)


def test_scalar_sources_are_held_onto_the_grid() -> None:
    stream = SampleStream(SignalRef(A, "temp"), Signal(name="temp").kind, 1, None, 10.0)
    stream.push_scalars(scalars("temp", np.array([T0, T0 + 250_000_000]), np.array([1.0, 2.0])))
    stream.push_scalars(scalars("temp", np.array([T0 + 520_000_000]), np.array([3.0])))
    assert stream.samples[:, 0].tolist() == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert (stream.ts - T0).tolist() == [0, 10**8, 2 * 10**8, 3 * 10**8, 4 * 10**8, 5 * 10**8]


def test_rates_and_kinds_are_checked() -> None:
    with pytest.raises(PipelineError, match="different rates"):
        Pipeline(cfg(sources=["acc", "acc4k"]), ASSET)
    with pytest.raises(PipelineError, match="integer decimation"):
        Pipeline(cfg(sources=["acc4k"], resample_hz=3000.0), ASSET).start()
    with pytest.raises(PipelineError, match="resample_hz"):
        Pipeline(cfg(sources=["temp"]), ASSET)
    with pytest.raises(PipelineError, match="not a signal"):
        Pipeline(cfg(sources=["nope"]), ASSET)
    with pytest.raises(PipelineError, match="first step must be 'features'"):
        Pipeline(cfg(steps=[{"scaler": {}}]), ASSET)
    with pytest.raises(PipelineError, match="speed signal"):
        Pipeline(cfg(steps=[{"features": {"features": ["rms"], "speed": "speed"}}]), ASSET)


def test_the_hash_follows_the_spec() -> None:
    a = Pipeline(cfg(), ASSET).spec_hash
    assert a == Pipeline(cfg(), ASSET).spec_hash
    assert a != Pipeline(cfg(window={"length_s": 2.0}), ASSET).spec_hash
    assert a != Pipeline(cfg(steps=[{"features": {"features": ["rms"]}}]), ASSET).spec_hash
    assert a == Pipeline(cfg(outputs=[{"store": {}}]), ASSET).spec_hash  # outputs do not count


def fitted_pipeline(**overrides: Any) -> tuple[Pipeline, list[Any]]:
    steps = [
        {"features": {"features": ["rms", "kurtosis"]}},
        {"scaler": {"by_regime": True}},
        {"model": {"type": "zscore"}},
    ]
    p = Pipeline(
        cfg(
            context=["speed"],
            regime={"signal": "speed", "edges": [0, 1000, 5000]},
            steps=steps,
            **overrides,
        ),
        ASSET,
    )
    rng = np.random.default_rng(0)
    records: list[Any] = []
    for i in range(40):
        amp = 1.0 if i < 20 else 3.0  # the second regime runs louder: that is not a fault
        records.append(block(T0 + i * S, amp * rng.normal(size=1000)))
    speed = np.where(np.arange(400) < 200, 500.0, 3000.0)
    records.append(scalars("speed", T0 + np.arange(400) * 100_000_000, speed))
    return p, records


def test_scaler_by_regime_and_model_fit_and_refuse_a_changed_spec() -> None:
    p, records = fitted_pipeline()
    with pytest.raises(NotFittedError):
        p.start().process(records)
    run = p.start()
    windows = run.push(records)
    assert windows is not None
    frame = p.transform(windows, until=1)
    p.steps[1].fit(frame)
    p.steps[2].fit(p.steps[1].transform(frame))
    out = p.transform(windows)
    # per-regime scaling: the louder regime is normal, scores stay low everywhere
    assert out.columns["anomaly_score"].max() < 4.0
    state = pipeline_state(p, {"windows": len(out)})
    again, _ = fitted_pipeline()
    apply_state(again, state)
    np.testing.assert_allclose(
        again.transform(windows).columns["anomaly_score"], out.columns["anomaly_score"]
    )
    changed, _ = fitted_pipeline(window={"length_s": 0.5})
    with pytest.raises(PipelineError, match="changed since"):
        apply_state(changed, state)


def test_isolation_forest_step_is_refused_for_the_models_section() -> None:
    # the fitted forest used to be pickled into the pipeline's state; it is a model type
    # of the models: section now, stored as ONNX
    with pytest.raises(PipelineConfigError, match="models: section") as info:
        Pipeline(
            cfg(
                steps=[
                    {"features": {"features": ["rms", "kurtosis"]}},
                    {"model": {"type": "isolation_forest", "params": {"n_estimators": 50}}},
                ]
            ),
            ASSET,
        )
    assert "isolation_forest" in str(info.value)


def test_outputs_and_alert_hysteresis() -> None:
    p = Pipeline(cfg(), ASSET)
    plan = build_outputs(
        "p",
        A,
        list(
            cfg(
                outputs=[
                    {"store": {"prefix": "h.", "columns": ["rms"]}},
                    {"bus": {"topic": "plant/m1/rms", "columns": ["rms"]}},
                    {
                        "alert": {
                            "column": "rms",
                            "above": 2.0,
                            "hysteresis": 0.5,
                            "for_s": 1.0,
                            "clear_for_s": 0,
                            "severity": "alarm",
                        }
                    },
                ]
            ).outputs
        ),
        p.output_columns(),
    )
    assert [s.name for s in plan.signals] == ["h.rms", "p.alert"]
    amps = [1, 3, 3, 3, 1.8, 1.4, 3, 1]  # raise after 1 s above, hold at 1.8, clear at 1.4
    records = [block(T0 + i * S, tone(1000, amp=a * np.sqrt(2))) for i, a in enumerate(amps)]
    f = frames(p, records, one_by_one=False)
    stored, published = plan.records(f)
    events = [r for r in stored if not isinstance(r, ScalarBatch)]
    assert [(e.kind, (e.ts_ns - T0) // S) for e in events] == [
        ("alert_raised", 2),
        ("alert_cleared", 5),
    ]
    assert events[0].severity == "alarm"
    assert published[0][0] == "plant/m1/rms"
    with pytest.raises(PipelineError, match="alert column"):
        build_outputs(
            "p",
            A,
            list(cfg(outputs=[{"alert": {"column": "x", "above": 1}}]).outputs),
            p.output_columns(),
        )


def test_alert_clears_only_after_clear_for_s() -> None:
    p = Pipeline(cfg(), ASSET)
    plan = build_outputs(
        "p",
        A,
        list(
            cfg(
                outputs=[
                    {
                        "alert": {
                            "column": "rms",
                            "above": 2.0,
                            "hysteresis": 0.5,
                            "for_s": 0,
                            "clear_for_s": 2.0,
                        }
                    }
                ]
            ).outputs
        ),
        p.output_columns(),
    )
    amps = [3, 1, 3, 1, 1, 1, 1]  # a dip of one window does not clear it; three do
    records = [block(T0 + i * S, tone(1000, amp=a * np.sqrt(2))) for i, a in enumerate(amps)]
    stored, _ = plan.records(frames(p, records, one_by_one=False))
    assert [(e.kind, (e.ts_ns - T0) // S) for e in stored] == [
        ("alert_raised", 0),
        ("alert_cleared", 5),
    ]
