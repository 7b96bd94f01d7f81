"""``shopfloor pipelines``: list, fit on a baseline, run over stored history.

:mod:`shopfloor.services.pipelines` does the work; these commands parse and print.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import EXIT_CONFIG, as_json, console, fail, print_table, progress_bar
from shopfloor.services.options import HistoryOptions

__all__ = ["app"]

app = group_app("pipelines")

Work = Callable[[int, int, Callable[[int, int], None]], Awaitable[dict[str, Any]]]


def _over_history(label: str, h: HistoryOptions, json_: bool, work: Work) -> dict[str, Any]:
    """Run ``work(start_ns, end_ns, progress)`` over ``h``'s range, with a progress bar."""
    from rich.progress import TextColumn

    from shopfloor.services.query import parse_time_range

    span = checked(parse_time_range, h.from_, h.to)
    start, end = span.start_ns, span.end_ns
    assert start is not None and end is not None  # both given

    async def main() -> dict[str, Any]:
        with progress_bar(TextColumn("{task.percentage:>3.0f}%"), disable=json_) as bar:
            task = bar.add_task(f"{label} {h.name}", total=end - start)
            return await work(start, end, lambda done, _total: bar.update(task, completed=done))

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
    from shopfloor.model import format_ns
    from shopfloor.services.pipelines import check_pipeline, fit_baseline
    from shopfloor.services.query import parse_time_range

    proj, name = load(project), h.name
    span = checked(parse_time_range, h.from_, h.to)  # the range first, as it names the option
    checked(check_pipeline, proj, name)
    result = _over_history("fit", h, json_, lambda *a: fit_baseline(proj, name, *a))
    if as_json(json_, result):
        return
    console.print(
        f"[green]fitted[/] {name} on {result['baseline']['windows']} windows "
        f"({format_ns(span.start_ns or 0)} .. {format_ns(span.end_ns or 0)}); "
        f"saved {result['saved']}"
    )
    uncovered = result["baseline"].get("uncovered_regimes") or []
    if uncovered:
        console.print(
            f"[yellow]warning:[/] no baseline window in regime(s) {', '.join(uncovered)} of "
            f"{name}: windows there score NaN (state unknown) until a fit covers them"
        )


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
    from shopfloor.services.pipelines import run_over_history

    proj, name = load(project), h.name
    result = _over_history(
        "run", h, json_, lambda *a: run_over_history(proj, name, *a, rescore=rescore)
    )
    conflicts = (
        f"{result['conflicts']:,} values differ from outputs already stored (an earlier "
        f"fit?) and were not written: run again with --rescore to replace them"
    )
    if not as_json(json_, result):
        if result["rescored"]:
            console.print(f"[yellow]rescored[/] {name}: {result['replaced']:,} old values deleted")
        console.print(
            f"[green]ran[/] {name}: {result['windows']:,} windows "
            f"({result['gated_out']:,} outside the operating state, {result['gaps']} gaps), "
            f"{result['values_written']:,} values stored, {result['alerts']} alerts, "
            f"in {result['took_s']} s"
        )
    if result["conflicts"]:
        fail(conflicts)
