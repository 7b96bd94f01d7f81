"""``shopfloor pipelines``: list, fit on a baseline, run over stored history.

:mod:`shopfloor.services.pipelines` does the work; these commands parse and print.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shopfloor.cli.common import (
    EXIT_CONFIG,
    JsonOption,
    ProjectOption,
    console,
    fail,
    load,
    print_json,
    run_async,
)

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["app"]

app = typer.Typer(
    help="Pipelines: list them, fit them on a baseline, run them over history.",
    no_args_is_help=True,
)

FromOption = Annotated[str, typer.Option("--from", help="Start (ISO 8601 or now-1h).")]
ToOption = Annotated[str, typer.Option("--to", help="End, exclusive (ISO 8601 or now).")]


def _range(start: str, end: str) -> tuple[int, int]:
    from shopfloor.errors import ConfigError
    from shopfloor.services.query import parse_time_range

    try:
        span = parse_time_range(start, end)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    assert span.start_ns is not None and span.end_ns is not None  # both given
    return span.start_ns, span.end_ns


def _progress(json_: bool) -> Progress:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        disable=json_,
        transient=False,
    )


def _with_bar(
    label: str,
    total: int,
    json_: bool,
    work: Callable[[Callable[[int, int], None]], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``work`` with a progress bar of ``total`` nanoseconds of history."""

    async def main() -> dict[str, Any]:
        with _progress(json_) as bar:
            task = bar.add_task(label, total=total)

            def update(done: int, _total: int) -> None:
                bar.update(task, completed=done)

            return await work(update)

    return run_async(main)


@app.command("list")
def list_(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the project's pipelines with their hash and whether they are fitted."""
    from rich.table import Table

    from shopfloor.services.pipelines import list_pipelines

    proj = load(project)
    rows = list_pipelines(proj)
    broken = [row["name"] for row in rows if "error" in row]
    if json_:
        print_json(rows)
        if broken:
            raise typer.Exit(EXIT_CONFIG)
        return
    table = Table(title=f"pipelines of {proj.config.project.name}")
    for column in ("name", "sources", "window", "steps", "outputs", "hash", "fitted"):
        table.add_column(column)
    for row in rows:
        if "error" in row:
            table.add_row(row["name"], f"[red]{row['error']}[/]", "", "", "", "", "")
            continue
        if not row["needs_fit"]:
            fit_status = "-"
        elif row["fitted"] is None:
            fit_status = "[red]no[/]"
        else:
            fit_status = "yes" if row["fitted"]["current"] else "[yellow]outdated[/]"
        table.add_row(
            row["name"],
            ", ".join(row["sources"]),
            f"{row['window_samples']} @ {row['rate_hz']:g} Hz, hop {row['hop_s']:g} s",
            " → ".join(row["steps"]),
            str(row["outputs"]),
            row["spec_hash"][:12],
            fit_status,
        )
    console.print(table)
    if broken:
        fail(f"pipeline(s) {', '.join(broken)} cannot be built: see the table", EXIT_CONFIG)


@app.command()
def fit(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    from_: FromOption,
    to: ToOption = "now",
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Fit the pipeline's learning steps (scalers, models) on a baseline of stored history."""
    from shopfloor.errors import ConfigError
    from shopfloor.model import format_ns
    from shopfloor.services.pipelines import check_pipeline, fit_baseline

    proj = load(project)
    start, end = _range(from_, to)
    try:
        check_pipeline(proj, name)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    result = _with_bar(
        f"fit {name}", end - start, json_, lambda up: fit_baseline(proj, name, start, end, up)
    )
    if json_:
        print_json(result)
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
    if json_:
        print_json(result)
    else:
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
