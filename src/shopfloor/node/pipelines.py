"""The project's pipelines: built from its file, with their fitted states and outputs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shopfloor.config import Project
from shopfloor.errors import ConfigError, PipelineError
from shopfloor.pipelines import (
    OutputPlan,
    Pipeline,
    PipelineService,
    apply_state,
    build_outputs,
    load_state,
)

__all__ = ["PendingPipeline", "fitted_path", "pipeline_service", "project_pipeline"]

log = logging.getLogger(__name__)


def fitted_path(project: Project, name: str) -> Path:
    """Where the fitted state of pipeline ``name`` is kept."""
    return project.state_dir / "pipelines" / f"{name}.fitted.json"


def project_pipeline(
    project: Project, name: str, *, load_fitted: bool = True
) -> tuple[Pipeline, OutputPlan]:
    """Build pipeline ``name`` with its outputs (and fitted state, when it needs one)."""
    configs = {p.name: p for p in project.config.pipelines}
    if name not in configs:
        raise ConfigError(
            f"no pipeline {name!r} in {project.file.name} (pipelines: "
            f"{', '.join(configs) or 'none'})"
        )
    config = configs[name]
    pipeline = Pipeline.from_project(config, project.config.assets)
    plan = build_outputs(
        config.name,
        config.asset,
        list(config.outputs),
        pipeline.output_columns(),
        hop_ns=pipeline.hop_ns,
    )
    if load_fitted and pipeline.needs_fit:
        apply_state(pipeline, load_state(fitted_path(project, name)))
    return pipeline, plan


class PendingPipeline:
    """A pipeline that cannot run yet (not fitted, or fitted for another spec).

    The platform keeps running without it and says why in its health.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = f"pipeline:{name}"
        self.reason = reason

    async def start(self) -> None:
        """Nothing runs."""
        log.warning("pipeline.not_started %s reason=%s", self.name, self.reason)

    async def stop(self) -> None:
        """Nothing to stop."""

    def health(self) -> dict[str, Any]:
        """Why it does not run."""
        return {"state": "not running", "reason": self.reason}


def pipeline_service(project: Project, name: str, platform: Any) -> Any:
    """A live service for pipeline ``name``, or a :class:`PendingPipeline` saying why not."""
    try:
        pipeline, plan = project_pipeline(project, name)
    except PipelineError as err:
        return PendingPipeline(name, str(err))
    return PipelineService(
        pipeline,
        plan,
        platform.bus,
        register=platform.store.register_signals,
        dead_letters=platform.store.write_dead_letters,
    )
