"""``shopfloor pipelines``: list, fit on a baseline, run over stored history.

:mod:`shopfloor.services.pipelines` does the work; these commands parse and print.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, load, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import (
    EXIT_CONFIG,
    as_json,
    fail,
    print_summary,
    print_table,
    progress_bar,
)
from shopfloor.services.options import HistoryOptions

__all__ = ["app"]

app = group_app("pipelines")

Work = Callable[[Callable[[int, int], None]], Awaitable[dict[str, Any]]]


def _over_history(label: str, h: HistoryOptions, json_: bool, work: Work) -> dict[str, Any]:
    """Run ``work(progress)`` over ``h``'s range of history, with a progress bar."""
    from rich.progress import TextColumn

    async def main() -> dict[str, Any]:
        with progress_bar(TextColumn("{task.percentage:>3.0f}%"), disable=json_) as bar:
            task = bar.add_task(f"{label} {h.name}", total=None)
            return await work(lambda done, total: bar.update(task, completed=done, total=total))

    return run_async(main)


@app.command("list")
def list_(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the project's pipelines with their hash and whether they are fitted."""
    from shopfloor.services.listing import pipelines_listing
    from shopfloor.services.pipelines import list_pipelines

    proj = load(project)
    rows = list_pipelines(proj)
    broken = [row["name"] for row in rows if "error" in row]
    if as_json(json_, rows):
        if broken:
            raise typer.Exit(EXIT_CONFIG)
        return
    print_table(pipelines_listing(proj.config.project.name, rows))
    if broken:
        fail(f"pipeline(s) {', '.join(broken)} cannot be built: see the table", EXIT_CONFIG)


@app.command()
@options_of(HistoryOptions, arguments=("name",))
def fit(h: HistoryOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Fit the pipeline's learning steps (scalers, models) on a baseline of stored history."""
    from shopfloor.services.pipelines import fit_baseline, fitted_lines

    proj = load(project)
    result = _over_history("fit", h, json_, lambda progress: fit_baseline(h, proj, progress))
    if not as_json(json_, result):
        print_summary(fitted_lines(result))


@app.command("run")
@options_of(HistoryOptions, arguments=("name",))
def run_(
    h: HistoryOptions,
    rescore: Annotated[
        bool,
        typer.Option(
            "--rescore",
            help="Replace this pipeline's stored outputs in the range (after a new fit).",
        ),
    ] = False,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Compute the pipeline over stored history and store its outputs (idempotent).

    Outputs of an earlier fit in the range are kept and the new ones reported as
    conflicts (exit 1); ``--rescore`` replaces them and says how many.
    """
    from shopfloor.services.pipelines import ran_lines, run_over_history

    proj = load(project)
    result = _over_history(
        "run", h, json_, lambda progress: run_over_history(h, proj, progress, rescore=rescore)
    )
    if not as_json(json_, result):
        print_summary(ran_lines(result))
    if result["conflicts"]:
        fail(
            f"{result['conflicts']:,} values differ from outputs already stored (an earlier "
            "fit?) and were not written: run again with --rescore to replace them"
        )
