"""``shopfloor pipelines``: list, fit on a baseline, run over stored history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
from shopfloor.config import Project
from shopfloor.errors import ConfigError
from shopfloor.model import format_ns, now_ns, to_ns
from shopfloor.node import open_project_store
from shopfloor.node.pipelines import fitted_path, project_pipeline
from shopfloor.pipelines import fit_pipeline, load_state, pipeline_state, run_history, save_state
from shopfloor.store import Store

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    help="Pipelines: list them, fit them on a baseline, run them over history.",
    no_args_is_help=True,
)

FromOption = Annotated[str, typer.Option("--from", help="Start (ISO 8601 or now-1h).")]
ToOption = Annotated[str, typer.Option("--to", help="End, exclusive (ISO 8601 or now).")]


def _range(start: str, end: str) -> tuple[int, int]:
    try:
        lo, hi = to_ns(start), to_ns(end)
    except ValueError as err:
        fail(f"--from/--to: {err}", EXIT_CONFIG)
    if hi <= lo:
        fail(f"--to ({end}) must be after --from ({start})", EXIT_CONFIG)
    return lo, hi


def _progress(json_: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        disable=json_,
        transient=False,
    )


async def _over_history(
    proj: Project,
    label: str,
    total: int,
    json_: bool,
    work: Callable[[Store, Callable[[int, int], None]], Awaitable[T]],
) -> T:
    """Open the project's store and run ``work`` on it with a progress bar."""
    store = await open_project_store(proj)
    try:
        with _progress(json_) as bar:
            task = bar.add_task(label, total=total)

            def update(done: int, _total: int) -> None:
                bar.update(task, completed=done)

            return await work(store, update)
    finally:
        await store.close()


@app.command("list")
def list_(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the project's pipelines with their hash and whether they are fitted."""
    proj = load(project)
    rows: list[dict[str, Any]] = []
    for config in proj.config.pipelines:
        try:
            pipeline, plan = project_pipeline(proj, config.name, load_fitted=False)
        except Exception as err:  # show the problem in the list, exit 2 after it
            rows.append({"name": config.name, "error": str(err)})
            continue
        fitted = None
        path = fitted_path(proj, config.name)
        if pipeline.needs_fit and path.exists():
            state = load_state(path)
            fitted = {
                "at": state.get("fitted_at"),
                "baseline": state.get("baseline"),
                "current": state.get("spec_hash") == pipeline.spec_hash,
            }
        rows.append(
            {
                "name": config.name,
                "asset": config.asset,
                "sources": [r.name for r, _ in pipeline.sources],
                "rate_hz": pipeline.rate_hz,
                "window_samples": pipeline.window_samples,
                "hop_s": pipeline.hop_ns / 1e9,
                "steps": [s.kind for s in pipeline.steps],
                "outputs": len(plan.signals),
                "spec_hash": pipeline.spec_hash,
                "needs_fit": pipeline.needs_fit,
                "fitted": fitted,
            }
        )
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
    proj = load(project)
    start, end = _range(from_, to)
    try:
        pipeline, _ = project_pipeline(proj, name, load_fitted=False)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        baseline = await _over_history(
            proj,
            f"fit {name}",
            end - start,
            json_,
            lambda store, update: fit_pipeline(store, pipeline, start, end, progress=update),
        )
        path = save_state(fitted_path(proj, name), pipeline_state(pipeline, baseline))
        return {
            "pipeline": name,
            "spec_hash": pipeline.spec_hash,
            "baseline": baseline,
            "saved": str(path),
        }

    result = run_async(run)
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
    proj = load(project)
    start, end = _range(from_, to)

    async def run() -> dict[str, Any]:
        pipeline, plan = project_pipeline(proj, name)
        report = await _over_history(
            proj,
            f"run {name}",
            end - start,
            json_,
            lambda store, update: run_history(
                store, pipeline, plan, start, end, progress=update, rescore=rescore
            ),
        )
        return {
            "pipeline": name,
            "from": format_ns(start),
            "to": format_ns(end),
            "spec_hash": pipeline.spec_hash,
            "outputs": [s.name for s in plan.signals],
            **report.as_dict(),
            "took_s": round((now_ns() - t0) / 1e9, 2),
        }

    t0 = now_ns()
    result = run_async(run)
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
