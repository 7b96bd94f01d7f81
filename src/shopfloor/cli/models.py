"""``shopfloor train``, ``score``, ``evaluate`` and ``shopfloor models ...``.

:mod:`shopfloor.services.models` does the work and words the results; these commands
parse and print.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from shopfloor.cli.common import (
    JsonOption,
    ProjectOption,
    checked,
    current_user,
    load,
    run_async,
)
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import show
from shopfloor.services import models as service
from shopfloor.services.options import EvaluateOptions, ScoreOptions, TrainOptions

__all__ = ["app", "evaluate", "score", "train"]

app = group_app("models")

ModelArgument = Annotated[
    str, typer.Argument(help="Model: NAME, NAME@VERSION or NAME@STAGE (e.g. @production).")
]


@options_of(TrainOptions)
def train(o: TrainOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Train a model on stored history and register a new version of it.

    The pipeline's features over the range are split by time (or by group), never at
    random; the model learns the healthy windows of the training part and its thresholds
    are set on the calibration part (to --false-alarm-budget when given). Writes
    report.json and a self-contained report.html beside the new version and prints their
    paths.

    With --images DIR, an image model learns a folder of labelled images instead (labels
    from DIR/<class>/ sub-folders or --labels CSV of file,class rows), split at random
    but seeded and stratified (--split 0.6,0.2,0.2, --seed 0); see docs/image-models.md.
    """
    proj = load(project)
    card = run_async(lambda: service.train_model(o, proj, who=current_user()))
    show(json_, card, service.trained_lines)


@options_of(ScoreOptions)
def score(o: ScoreOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Score stored history with a registered model, window by window.

    With --json, one JSON object per line and window: timestamp, end, score,
    health_index and state (normal, warning, alarm or unknown).

    With --images DIR, an image model classifies every image of the folder instead: one
    object per image, file, class (or uncertain, with the most probable class as best)
    and confidence.
    """
    proj = load(project)
    rows = run_async(lambda: service.score_model(o, proj))
    if json_:  # JSON Lines: a window per line, so a long range streams into jq
        sys.stdout.writelines(json.dumps(row) + "\n" for row in rows)
        sys.stdout.flush()
        return
    show(False, rows, lambda r: [service.scores_listing(r, o.model)])


@options_of(EvaluateOptions)
def evaluate(o: EvaluateOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Measure a registered model on labelled stored history (JSON report).

    Healthy and unlabelled windows give the alarm and warning rates, windows labelled
    fault:<type> the detection rate; AUROC and PR-AUC when both are there; the confusion
    matrix and recall of the labelled windows; run-to-failure metrics when the range holds
    fault labels; the first alarm. With --report DIR, also report.json and a
    self-contained report.html in DIR.
    """
    proj = load(project)
    show(json_, run_async(lambda: service.evaluate_model(o, proj)), service.evaluated_lines)


@app.command("list")
def list_(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List every registered version of every model, with its stage."""
    proj = load(project, build_pipelines=False)
    rows = checked(service.list_models, proj)
    show(json_, rows, lambda r: [service.models_listing(proj.config.project.name, r)])


@app.command("show")
def show_card(
    model: ModelArgument, project: ProjectOption = None, json_: JsonOption = False
) -> None:
    """Print a version's model card (NAME alone: production, else the newest).

    Parameters, pipeline and its hash, input features and units, dataset hash and
    ranges, split, metrics, calibration, code version, who and when, stage, lineage.
    """
    proj = load(project, build_pipelines=False)
    show(json_, checked(service.show_model, proj, model), service.card_lines)


@app.command()
def promote(
    model: ModelArgument,
    stage: Annotated[
        str, typer.Option(help="none, staging, production or archived.")
    ] = "production",
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Set a version's stage; a new production version archives the one before."""
    proj = load(project, build_pipelines=False)
    card = checked(service.promote_model, proj, model, stage, who=current_user())
    show(json_, card, service.stage_lines)


@app.command()
def archive(model: ModelArgument, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Archive a version."""
    proj = load(project, build_pipelines=False)
    card = checked(service.archive_model, proj, model, who=current_user())
    show(json_, card, service.stage_lines)


@app.command()
def export(
    model: ModelArgument,
    dest: Annotated[Path, typer.Argument(help="New (or empty) folder to write.")],
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Export a version as an MLflow model folder (MLmodel, artifact, card)."""
    proj = load(project, build_pipelines=False)
    show(json_, checked(service.export_model, proj, model, dest), service.exported_lines)
