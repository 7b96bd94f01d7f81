"""Outputs carry the version of the fit that computed them."""

from __future__ import annotations

from typing import Any

from shopfloor.pipelines import apply_state, build_outputs, pipeline_state

from .test_pipeline import A, fitted_pipeline


def _fit(pipeline: Any, records: list[Any], rows: slice) -> None:
    windows = pipeline.start().push(records)
    frame = pipeline.transform(windows, until=1)
    frame = type(frame)(
        frame.t0_ns[rows],
        frame.t1_ns[rows],
        {k: v[rows] for k, v in frame.columns.items()},
        frame.units,
        {k: v[rows] for k, v in frame.context.items()},
        frame.regime[rows],
    )
    data: Any = frame
    for step in pipeline.steps[1:]:
        step.fit(data)
        data = step.transform(data)


def test_each_fit_has_a_version_and_outputs_carry_it() -> None:
    p, records = fitted_pipeline(
        outputs=[{"store": {"prefix": "h."}}, {"alert": {"column": "anomaly_score", "above": 0}}]
    )
    _fit(p, records, slice(0, 40))
    state = pipeline_state(p, {})
    assert p.fit_version == state["version"] and len(state["version"]) == 12
    _fit(p, records, slice(0, 30))
    other = pipeline_state(p, {})
    assert other["version"] != state["version"]
    again, _ = fitted_pipeline(
        outputs=[{"store": {"prefix": "h."}}, {"alert": {"column": "anomaly_score", "above": 0}}]
    )
    apply_state(again, state)
    assert again.fit_version == state["version"]
    plan = build_outputs(again.name, A, list(again.config.outputs), again.output_columns())
    plan.version = again.fit_version
    frame = again.start().process(records)
    assert frame is not None
    stored, _ = plan.records(frame)
    addresses = {r.provenance.address for r in stored}
    assert addresses == {f"p@{state['version']}"}
