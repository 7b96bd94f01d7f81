"""The project's pipelines: list them, fit them on a baseline, run them over stored history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shopfloor.config import Project
from shopfloor.model import format_ns, now_ns
from shopfloor.node.pipelines import fitted_path, project_pipeline
from shopfloor.pipelines import fit_pipeline, load_state, pipeline_state, run_history, save_state
from shopfloor.services.store import project_store

__all__ = ["Progress", "check_pipeline", "fit_baseline", "list_pipelines", "run_over_history"]

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


async def fit_baseline(
    project: Project, name: str, start_ns: int, end_ns: int, progress: Progress | None = None
) -> dict[str, Any]:
    """Fit pipeline ``name``'s learning steps on ``[start_ns, end_ns)`` and save the state."""
    pipeline, _ = project_pipeline(project, name, load_fitted=False)
    async with project_store(project) as store:
        baseline = await fit_pipeline(store, pipeline, start_ns, end_ns, progress=progress)
    path = save_state(fitted_path(project, name), pipeline_state(pipeline, baseline))
    return {
        "pipeline": name,
        "spec_hash": pipeline.spec_hash,
        "baseline": baseline,
        "saved": str(path),
    }


async def run_over_history(
    project: Project,
    name: str,
    start_ns: int,
    end_ns: int,
    progress: Progress | None = None,
    *,
    rescore: bool = False,
) -> dict[str, Any]:
    """Compute pipeline ``name`` over ``[start_ns, end_ns)`` and store its outputs (idempotent).

    Outputs of an earlier fit in the range are kept and the new values counted as
    ``conflicts``; ``rescore`` first deletes this pipeline's outputs in the range
    (``replaced``) so that the current fit's take their place.
    """
    t0 = now_ns()
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
