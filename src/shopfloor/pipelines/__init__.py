"""Composable pipelines: one code path for stored history and live data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.pipelines.config import (
        GateConfig,
        OutputConfig,
        PipelineConfig,
        RegimeConfig,
        StepConfig,
        WindowConfig,
    )
    from shopfloor.pipelines.fitted import (
        apply_state,
        fit_version,
        load_state,
        pipeline_state,
        save_state,
    )
    from shopfloor.pipelines.frames import FeatureFrame, WindowBatch
    from shopfloor.pipelines.history import (
        DeletingStore,
        HistoryReport,
        fit_pipeline,
        read_features,
        read_history,
        run_history,
    )
    from shopfloor.pipelines.outputs import OutputPlan, build_outputs
    from shopfloor.pipelines.pipeline import Pipeline, PipelineRun
    from shopfloor.pipelines.runner import PipelineService
    from shopfloor.pipelines.steps import STEP_KINDS, FeaturesStep, ModelStep, ScalerStep, Step
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.pipelines.config": (
                "GateConfig",
                "OutputConfig",
                "PipelineConfig",
                "RegimeConfig",
                "StepConfig",
                "WindowConfig",
            ),
            "shopfloor.pipelines.fitted": (
                "apply_state",
                "fit_version",
                "load_state",
                "pipeline_state",
                "save_state",
            ),
            "shopfloor.pipelines.frames": ("FeatureFrame", "WindowBatch"),
            "shopfloor.pipelines.history": (
                "DeletingStore",
                "HistoryReport",
                "fit_pipeline",
                "read_features",
                "read_history",
                "run_history",
            ),
            "shopfloor.pipelines.outputs": ("OutputPlan", "build_outputs"),
            "shopfloor.pipelines.pipeline": ("Pipeline", "PipelineRun"),
            "shopfloor.pipelines.runner": ("PipelineService",),
            "shopfloor.pipelines.steps": (
                "STEP_KINDS",
                "FeaturesStep",
                "ModelStep",
                "ScalerStep",
                "Step",
            ),
        },
    )

__all__ = [
    "STEP_KINDS",
    "DeletingStore",
    "FeatureFrame",
    "FeaturesStep",
    "GateConfig",
    "HistoryReport",
    "ModelStep",
    "OutputConfig",
    "OutputPlan",
    "Pipeline",
    "PipelineConfig",
    "PipelineRun",
    "PipelineService",
    "RegimeConfig",
    "ScalerStep",
    "Step",
    "StepConfig",
    "WindowBatch",
    "WindowConfig",
    "apply_state",
    "build_outputs",
    "fit_pipeline",
    "fit_version",
    "load_state",
    "pipeline_state",
    "read_features",
    "read_history",
    "run_history",
    "save_state",
]
