"""``shopfloor train``, ``score``, ``evaluate`` and ``shopfloor models ...``.

:mod:`shopfloor.services.models` does the work; these commands parse and print.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, current_user, load, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import (
    EXIT_CONFIG,
    as_json,
    console,
    fail,
    print_summary,
    print_table,
)
from shopfloor.errors import ConfigError, ShopfloorError
from shopfloor.services.options import EvaluateOptions, ScoreOptions, TrainOptions

__all__ = ["app", "evaluate", "score", "train"]

app = group_app("models")

T = TypeVar("T")

ModelArgument = Annotated[
    str, typer.Argument(help="Model: NAME, NAME@VERSION or NAME@STAGE (e.g. @production).")
]


def _done(work: Callable[[], T]) -> T:
    """``work()``, exiting with its message on an error (status 2 for a config error)."""
    try:
        return work()
    except ShopfloorError as err:
        fail(str(err), EXIT_CONFIG if isinstance(err, ConfigError) else 1)


@options_of(TrainOptions)
def train(o: TrainOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Train a model on stored history and register a new version of it.

    The pipeline's features over the range are split by time (or by group), never at
    random; the model learns the healthy windows of the training part and its thresholds
    are set on the calibration part (to --false-alarm-budget when given). Writes
    report.json and a self-contained report.html beside the new version and prints their
    paths.
    """
    from shopfloor.services.models import train_model, trained_lines

    proj = load(project)
    card = run_async(lambda: train_model(o, proj, who=current_user()))
    if not as_json(json_, card):
        print_summary(trained_lines(card))


@options_of(ScoreOptions)
def score(o: ScoreOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Score stored history with a registered model, window by window.

    With --json, one JSON object per line and window: timestamp, end, score,
    health_index and state (normal, warning, alarm or unknown).
    """
    from shopfloor.services.listing import Listing
    from shopfloor.services.models import score_model

    proj = load(project)
    rows = run_async(lambda: score_model(o, proj))
    if json_:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        sys.stdout.flush()
        return
    columns = tuple(rows[0]) if rows else ("timestamp",)
    print_table(
        Listing(
            f"{len(rows)} windows scored by {o.model}", columns, [tuple(r.values()) for r in rows]
        )
    )


@options_of(EvaluateOptions)
def evaluate(o: EvaluateOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Measure a registered model on labelled stored history (JSON report).

    Healthy and unlabelled windows give the alarm and warning rates, windows labelled
    fault:<type> the detection rate; AUROC and PR-AUC when both are there; the confusion
    matrix and recall of the labelled windows; run-to-failure metrics when the range holds
    fault labels; the first alarm. With --report DIR, also report.json and a
    self-contained report.html in DIR.
    """
    from shopfloor.services.models import evaluate_model, evaluated_lines

    proj = load(project)
    report = run_async(lambda: evaluate_model(o, proj))
    if not as_json(json_, report):
        print_summary(evaluated_lines(report))


@app.command("list")
def list_(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List every registered version of every model, with its stage."""
    from shopfloor.services.models import list_models, models_listing

    proj = load(project, build_pipelines=False)
    rows = _done(lambda: list_models(proj))
    if not as_json(json_, rows):
        print_table(models_listing(proj.config.project.name, rows))


@app.command()
def show(model: ModelArgument, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Print a version's model card (NAME alone: production, else the newest).

    Parameters, pipeline and its hash, input features and units, dataset hash and
    ranges, split, metrics, calibration, code version, who and when, stage, lineage.
    """
    from shopfloor.services.models import show_model

    proj = load(project, build_pipelines=False)
    card = _done(lambda: show_model(proj, model))
    _print_card(card, json_)


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
    from shopfloor.services.models import promote_model

    proj = load(project, build_pipelines=False)
    card = _done(lambda: promote_model(proj, model, stage, who=current_user()))
    if not as_json(json_, card):
        print_summary([f"promoted {card['name']}@{card['version']} to {card['stage']}"])


@app.command()
def archive(model: ModelArgument, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Archive a version."""
    from shopfloor.services.models import archive_model

    proj = load(project, build_pipelines=False)
    card = _done(lambda: archive_model(proj, model, who=current_user()))
    if not as_json(json_, card):
        print_summary([f"archived {card['name']}@{card['version']}"])


@app.command()
def export(
    model: ModelArgument,
    dest: Annotated[Path, typer.Argument(help="New (or empty) folder to write.")],
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Export a version as an MLflow model folder (MLmodel, artifact, card)."""
    from shopfloor.services.models import export_model

    proj = load(project, build_pipelines=False)
    result = _done(lambda: export_model(proj, model, dest))
    if not as_json(json_, result):
        print_summary([f"exported {result['model']} to {result['exported']} (MLflow format)"])


def _print_card(card: dict[str, Any], json_: bool) -> None:
    from rich.markup import escape

    from shopfloor.services.models import card_lines

    if as_json(json_, card):
        return
    for line in card_lines(card):
        console.print(escape(line) if line.startswith(" ") else f"[bold]{escape(line)}[/]")
