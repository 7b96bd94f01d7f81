"""``shopfloor labels``: add, list and delete labelled time ranges.

:mod:`shopfloor.services.labels` does the work; these commands parse and print.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, current_user, load, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, print_summary
from shopfloor.services.options import LabelOptions

__all__ = ["app"]

app = group_app("labels")


@app.command()
@options_of(LabelOptions)
def add(o: LabelOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Label a time range of an asset (or one of its signals): healthy, ignore, fault:<type>."""
    from shopfloor.services.labels import add_label

    proj = load(project, build_pipelines=False)
    row = run_async(lambda: add_label(o, proj, who=current_user()))
    if not as_json(json_, row):
        print_summary([f"added label #{row['id']} {row['label']} {row['from']} .. {row['to']}"])


@app.command("list")
def list_(
    asset: Annotated[
        str | None, typer.Option(help="Only this asset and the assets below it.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Only labels ending after this time.")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Only labels starting before this time.")] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """List labels, oldest first."""
    from shopfloor.services.labels import labels_lines, list_labels

    proj = load(project, build_pipelines=False)
    rows = run_async(lambda: list_labels(proj, asset=asset, from_=from_, to=to))
    if not as_json(json_, rows):
        print_summary(labels_lines(rows))


@app.command()
def delete(
    label_id: Annotated[int, typer.Argument(help="The label's id (see `labels list`).")],
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Delete a label."""
    from shopfloor.services.labels import delete_label

    proj = load(project, build_pipelines=False)
    result = run_async(lambda: delete_label(proj, label_id))
    if not as_json(json_, result):
        print_summary([f"deleted label #{label_id}"])
