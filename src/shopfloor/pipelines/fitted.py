"""What a pipeline learned from its baseline, saved with the hash of the pipeline.

A fitted state is only ever applied to the pipeline it was fitted for: the hash of the
pipeline's specification travels with it, and loading it into a pipeline that hashes
differently (a step, a window, a source changed) is refused.

Each fit has a version (a hash of what was learned): the outputs a fitted pipeline writes
carry it in their provenance (``<pipeline>@<version>``), so outputs of two fits can be
told apart, and replacing old ones is an explicit ``--rescore``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from shopfloor.errors import PipelineError
from shopfloor.model import format_ns, now_ns
from shopfloor.pipelines.pipeline import Pipeline

__all__ = ["apply_state", "fit_version", "load_state", "pipeline_state", "save_state"]


def fit_version(state: dict[str, Any]) -> str:
    """The version of a fit: 12 hex digits of the hash of its spec hash and step states."""
    learned = {"spec_hash": state.get("spec_hash"), "steps": state.get("steps", [])}
    text = json.dumps(learned, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pipeline_state(pipeline: Pipeline, baseline: dict[str, Any]) -> dict[str, Any]:
    """The fitted state of ``pipeline`` (after its steps were fitted), with its version.

    The pipeline takes the new version too (:attr:`Pipeline.fit_version`).
    """
    state: dict[str, Any] = {
        "pipeline": pipeline.name,
        "spec_hash": pipeline.spec_hash,
        "fitted_at": format_ns(now_ns()),
        "baseline": baseline,
        "steps": [{"kind": s.kind, "state": s.get_state()} for s in pipeline.steps],
    }
    state["version"] = fit_version(state)
    pipeline.fit_version = state["version"]
    return state


def apply_state(pipeline: Pipeline, state: dict[str, Any]) -> None:
    """Load fitted step states into ``pipeline``; refuse a state fitted for another spec."""
    if state.get("spec_hash") != pipeline.spec_hash:
        raise PipelineError(
            f"pipeline {pipeline.name!r} was fitted as {str(state.get('spec_hash'))[:12]}…, but "
            f"its specification now hashes to {pipeline.spec_hash[:12]}…: it changed since; "
            "fit it again on a baseline"
        )
    steps = state.get("steps", [])
    if len(steps) != len(pipeline.steps):
        raise PipelineError(
            f"fitted state of {pipeline.name!r} has {len(steps)} steps, the "
            f"pipeline {len(pipeline.steps)}"
        )
    for step, saved in zip(pipeline.steps, steps, strict=True):
        step.set_state(saved["state"])
    pipeline.fit_version = str(state.get("version") or fit_version(state))


def save_state(path: Path, state: dict[str, Any]) -> Path:
    """Write atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def load_state(path: Path) -> dict[str, Any]:
    """Read a saved state; ``PipelineError`` when it is missing or unreadable."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"no fitted state at {path}: fit the pipeline first") from None
    except (OSError, ValueError) as err:
        raise PipelineError(f"cannot read fitted state {path}: {err}") from err
    return data
