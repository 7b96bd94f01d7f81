"""The project's pipelines: list them, fit them on a baseline, run them over stored history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shopfloor.config import Project
from shopfloor.model import format_ns, now_ns
from shopfloor.node.pipelines import fitted_path, project_pipeline
from shopfloor.pipelines import fit_pipeline, load_state, pipeline_state, run_history, save_state
from shopfloor.services.options import HistoryOptions
from shopfloor.services.query import parse_time_range
from shopfloor.services.store import project_store

__all__ = [
    "Progress",
    "check_pipeline",
    "fit_baseline",
    "fitted_lines",
    "list_pipelines",
    "ran_lines",
    "run_over_history",
]

Progress = Callable[[int, int], None]
"""Told ``(nanoseconds done, nanoseconds in all)`` as the work goes over history."""


def list_pipelines(project: Project) -> list[dict[str, Any]]:
    """Each pipeline with its sources, window, steps, hash and whether it is fitted.

    A pipeline that cannot be built is listed with its ``error``; the list goes on.
    """
    rows: list[dict[str, Any]] = []
    for config in project.config.pipelines:
        try:
            pipeline, plan = project_pipeline(project, config.name, load_fitted=False)
        except Exception as err:  # show the problem in the list, do not stop at it
            rows.append({"name": config.name, "error": str(err)})
            continue
        fitted = None
        path = fitted_path(project, config.name)
        if pipeline.needs_fit and path.exists():
            state = load_state(path)
            fitted = {
                "at": state.get("fitted_at"),
                "baseline": state.get("baseline"),
                "current": state.get("spec_hash") == pipeline.spec_hash,
            }
        rows.append(
            {
                "name": config.name,
                "asset": config.asset,
                "sources": [r.name for r, _ in pipeline.sources],
                "rate_hz": pipeline.rate_hz,
                "window_samples": pipeline.window_samples,
                "hop_s": pipeline.hop_ns / 1e9,
                "steps": [s.kind for s in pipeline.steps],
                "outputs": len(plan.signals),
                "spec_hash": pipeline.spec_hash,
                "needs_fit": pipeline.needs_fit,
                "fitted": fitted,
            }
        )
    return rows


def check_pipeline(project: Project, name: str) -> None:
    """Build pipeline ``name`` once, so that a bad one fails before any work.

    Raises
    ------
    ConfigError
        When there is no such pipeline or its definition is wrong.
    """
    project_pipeline(project, name, load_fitted=False)


def _span(h: HistoryOptions) -> tuple[int, int]:
    """``h``'s range in nanoseconds; ``ConfigError`` naming ``--from`` or ``--to``."""
    span = parse_time_range(h.from_, h.to)
    assert span.start_ns is not None and span.end_ns is not None  # both given
    return span.start_ns, span.end_ns


async def fit_baseline(
    h: HistoryOptions, project: Project, progress: Progress | None = None
) -> dict[str, Any]:
    """Fit pipeline ``h.name``'s learning steps on ``h``'s range of history; save the state.

    Raises
    ------
    ConfigError
        When the range is wrong, or there is no such pipeline or it cannot be built.
    """
    (start_ns, end_ns), name = _span(h), h.name
    pipeline, _ = project_pipeline(project, name, load_fitted=False)
    async with project_store(project) as store:
        baseline = await fit_pipeline(store, pipeline, start_ns, end_ns, progress=progress)
    path = save_state(fitted_path(project, name), pipeline_state(pipeline, baseline))
    return {
        "pipeline": name,
        "from": format_ns(start_ns),
        "to": format_ns(end_ns),
        "spec_hash": pipeline.spec_hash,
        "baseline": baseline,
        "saved": str(path),
    }


def fitted_lines(result: dict[str, Any]) -> list[str]:
    """What :func:`fit_baseline` did, in words; a warning for regimes with no baseline."""
    name, baseline = result["pipeline"], result["baseline"]
    lines = [
        f"fitted {name} on {baseline['windows']} windows ({result['from']} .. {result['to']}); "
        f"saved {result['saved']}"
    ]
    uncovered = baseline.get("uncovered_regimes") or []
    if uncovered:
        lines.append(
            f"warning: no baseline window in regime(s) {', '.join(uncovered)} of {name}: "
            "windows there score NaN (state unknown) until a fit covers them"
        )
    return lines


async def run_over_history(
    h: HistoryOptions,
    project: Project,
    progress: Progress | None = None,
    *,
    rescore: bool = False,
) -> dict[str, Any]:
    """Compute pipeline ``h.name`` over ``h``'s range and store its outputs (idempotent).

    Outputs of an earlier fit in the range are kept and the new values counted as
    ``conflicts``; ``rescore`` first deletes this pipeline's outputs in the range
    (``replaced``) so that the current fit's take their place.
    """
    t0, (start_ns, end_ns), name = now_ns(), _span(h), h.name
    pipeline, plan = project_pipeline(project, name)
    async with project_store(project) as store:
        report = await run_history(
            store, pipeline, plan, start_ns, end_ns, progress=progress, rescore=rescore
        )
    return {
        "pipeline": name,
        "from": format_ns(start_ns),
        "to": format_ns(end_ns),
        "spec_hash": pipeline.spec_hash,
        "outputs": [s.name for s in plan.signals],
        **report.as_dict(),
        "took_s": round((now_ns() - t0) / 1e9, 2),
    }


def ran_lines(result: dict[str, Any]) -> list[str]:
    """What :func:`run_over_history` did, in words (conflicts are the caller's to report)."""
    name, r = result["pipeline"], result
    ran = (
        f"{name}: {r['windows']:,} windows ({r['gated_out']:,} outside the operating state, "
        f"{r['gaps']} gaps), {r['values_written']:,} values stored, {r['alerts']} alerts, "
        f"in {r['took_s']} s"
    )
    if r["rescored"]:
        return [f"rescored {name}: {r['replaced']:,} old values deleted", f"ran {ran}"]
    return [f"ran {ran}"]
