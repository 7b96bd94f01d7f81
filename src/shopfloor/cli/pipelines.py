"""``shopfloor pipelines``: list, fit on a baseline, run over stored history.

:mod:`shopfloor.services.pipelines` does the work; these commands parse and print.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load, run_async
from shopfloor.cli.output import EXIT_CONFIG, as_json, console, fail, print_table, progress_bar

__all__ = ["app"]

app = typer.Typer(
    help="Pipelines: list them, fit them on a baseline, run them over history.",
    no_args_is_help=True,
)

FromOption = Annotated[str, typer.Option("--from", help="Start (ISO 8601 or now-1h).")]
ToOption = Annotated[str, typer.Option("--to", help="End, exclusive (ISO 8601 or now).")]


def _range(start: str, end: str) -> tuple[int, int]:
    from shopfloor.services.query import parse_time_range

    span = checked(parse_time_range, start, end)
    assert span.start_ns is not None and span.end_ns is not None  # both given
    return span.start_ns, span.end_ns


def _with_bar(
    label: str,
    total: int,
    json_: bool,
    work: Callable[[Callable[[int, int], None]], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``work`` with a progress bar of ``total`` nanoseconds of history."""
    from rich.progress import TextColumn

    async def main() -> dict[str, Any]:
        with progress_bar(TextColumn("{task.percentage:>3.0f}%"), disable=json_) as bar:
            task = bar.add_task(label, total=total)
            return await work(lambda done, _total: bar.update(task, completed=done))

    return run_async(main)


@app.command("list")
def list_(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the project's pipelines with their hash and whether they are fitted."""
    from shopfloor.services.pipelines import list_pipelines

    proj = load(project)
    rows = list_pipelines(proj)
    broken = [row["name"] for row in rows if "error" in row]
    if as_json(json_, rows):
        if broken:
            raise typer.Exit(EXIT_CONFIG)
        return
    print_table(
        f"pipelines of {proj.config.project.name}",
        ("name", "sources", "window", "steps", "outputs", "hash", "fitted"),
        (_pipeline_row(row) for row in rows),
    )
    if broken:
        fail(f"pipeline(s) {', '.join(broken)} cannot be built: see the table", EXIT_CONFIG)


def _pipeline_row(row: dict[str, Any]) -> tuple[str, ...]:
    """A row of ``pipelines list``: what the pipeline reads, does and writes; fitted or not."""
    if "error" in row:
        return (row["name"], f"[red]{row['error']}[/]", "", "", "", "", "")
    if not row["needs_fit"]:
        fit_status = "-"
    elif row["fitted"] is None:
        fit_status = "[red]no[/]"
    else:
        fit_status = "yes" if row["fitted"]["current"] else "[yellow]outdated[/]"
    return (
        row["name"],
        ", ".join(row["sources"]),
        f"{row['window_samples']} @ {row['rate_hz']:g} Hz, hop {row['hop_s']:g} s",
        " → ".join(row["steps"]),
        str(row["outputs"]),
        row["spec_hash"][:12],
        fit_status,
    )


@app.command()
def fit(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    from_: FromOption,
    to: ToOption = "now",
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Fit the pipeline's learning steps (scalers, models) on a baseline of stored history."""
    from shopfloor.model import format_ns
    from shopfloor.services.pipelines import check_pipeline, fit_baseline

    proj = load(project)
    start, end = _range(from_, to)
    checked(check_pipeline, proj, name)
    result = _with_bar(
        f"fit {name}", end - start, json_, lambda up: fit_baseline(proj, name, start, end, up)
    )
    if as_json(json_, result):
        return
    console.print(
        f"[green]fitted[/] {name} on {result['baseline']['windows']} windows "
        f"({format_ns(start)} .. {format_ns(end)}); saved {result['saved']}"
    )
    uncovered = result["baseline"].get("uncovered_regimes") or []
    if uncovered:
        console.print(
            f"[yellow]warning:[/] no baseline window in regime(s) {', '.join(uncovered)} of "
            f"{name}: windows there score NaN (state unknown) until a fit covers them"
        )


@app.command("run")
def run_(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    from_: FromOption,
    to: ToOption = "now",
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

    proj = load(project)
    start, end = _range(from_, to)
    result = _with_bar(
        f"run {name}",
        end - start,
        json_,
        lambda up: run_over_history(proj, name, start, end, up, rescore=rescore),
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
