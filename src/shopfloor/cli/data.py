"""Commands on data: ingest recordings, query signals, list signals, events and dead letters.

The work is done by :mod:`shopfloor.services`; these commands parse options and print.
Services are imported when a command runs, so that ``shopfloor --help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load, run_async, with_store
from shopfloor.cli.options import options_of
from shopfloor.cli.output import (
    as_json,
    console,
    fail,
    print_summary,
    print_table,
    progress_bar,
)
from shopfloor.services.ingest_options import IngestOptions
from shopfloor.services.options import DeadLetterOptions, EventOptions, QueryOptions

if TYPE_CHECKING:
    from rich.progress import Progress

    from shopfloor.connectors.recordings import RecordingReader
    from shopfloor.services.ingest import IngestSummary

__all__ = ["dead_letters", "events", "ingest", "query", "signals"]

AssetFilter = Annotated[
    str | None, typer.Option("--asset", help="Only this asset and the assets below it.")
]
SignalFilter = Annotated[str | None, typer.Option("--signal", help="Only this signal (name).")]


@options_of(IngestOptions, arguments=("paths",))
def ingest(
    options: IngestOptions,
    strict: Annotated[
        bool, typer.Option(help="Exit with status 1 when any row or value was rejected.")
    ] = False,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Load recordings into the store, reporting every rejected row or capture.

    CSV and Parquet tables give scalar signals. WAV, MATLAB .mat, NumPy .npy/.npz and
    folders or tar archives of capture files give waveform signals, cut into blocks.
    Anything that cannot be read goes to the dead-letter table with its file (member),
    line and reason (see `shopfloor dead-letters`); nothing is dropped silently.
    """
    from rich.progress import DownloadColumn, TransferSpeedColumn

    from shopfloor.services.ingest import check_ingest
    from shopfloor.services.ingest import ingest as run_ingest

    proj = load(project)
    plan = checked(check_ingest, options)

    async def run() -> IngestSummary:
        columns = (DownloadColumn(), TransferSpeedColumn())
        with progress_bar(*columns, disable=json_, remaining=True) as bar:
            return await run_ingest(proj, plan, progress=lambda readers: _progress_of(bar, readers))

    summary = run_async(run)
    if not as_json(json_, summary.as_dict()):
        print_summary(summary.lines())
    if strict and summary.rejected:
        fail(f"--strict: {summary.rejected:,} rejected (see shopfloor dead-letters)")


def _progress_of(
    bar: Progress, readers: Sequence[RecordingReader]
) -> Callable[[RecordingReader, int], None]:
    """One bar per recording; one bar for them all when there are more than four."""
    if len(readers) <= 4:
        tasks = {id(r): bar.add_task(r.path.name, total=r.total) for r in readers}
        return lambda reader, done: bar.update(tasks[id(reader)], completed=done)
    task = bar.add_task(f"{len(readers)} files", total=sum(r.total for r in readers))
    done_by: dict[int, int] = {}

    def overall(reader: RecordingReader, done: int) -> None:
        done_by[id(reader)] = done
        bar.update(task, completed=sum(done_by.values()))

    return overall


@options_of(QueryOptions)
def query(o: QueryOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Read a signal's values (scalars, or waveform blocks and events as summaries)."""
    from shopfloor.services.query import parse_every, parse_time_range, query_signal, signal_ref

    proj = load(project)
    ref = checked(signal_ref, o.asset, o.signal)
    span = checked(parse_time_range, o.from_, o.to)
    every_ns = checked(parse_every, o.every)
    result = with_store(
        proj, lambda s: query_signal(s, ref, span, every_ns=every_ns, every=o.every, limit=o.limit)
    )
    if as_json(json_, result):
        return
    rows = [list(row.values()) for row in result["rows"]]
    if len(rows) > 40:
        rows = [*rows[:20], ["…"] * len(rows[0]), *rows[-20:]]
    print_table(
        f"{result['signal']} [{result['unit'] or '-'}] ({len(result['rows']):,} rows)",
        list(result["rows"][0]) if rows else [],
        rows,
        right=[key for key in (result["rows"][0] if rows else ()) if key != "ts"],
    )


def signals(
    asset: AssetFilter = None,
    signal: SignalFilter = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """List the signals the store knows, with how much data each has."""
    from shopfloor.services.query import list_signals

    proj = load(project)
    rows = with_store(proj, lambda store: list_signals(store, asset=asset, signal=signal))
    if as_json(json_, rows):
        return
    console.print(f"[bold]signals of {proj.config.project.name}[/]: {len(rows):,}")
    by_asset: dict[str, list[dict[str, Any]]] = {}  # the asset once, as the table's title
    for row in rows:
        by_asset.setdefault(row["asset"], []).append(row)
    for group, members in by_asset.items():
        print_table(
            group,
            ("signal", "kind", "unit", "count", "first", "last"),
            (
                (r["name"], r["kind"], r["unit"] or "-", f"{r['count']:,}", r["first"], r["last"])
                for r in members
            ),
            right=("count",),
            no_wrap=("signal",),  # names whole; the times fold instead
            column_style={"overflow": "fold"},
            title_justify="left",
        )


@options_of(EventOptions)
def events(o: EventOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Show events (data gaps, program changes, alarms), newest first."""
    from shopfloor.services.query import list_events, parse_time_range

    proj = load(project)
    span = checked(parse_time_range, o.from_, o.to)
    result = with_store(
        proj,
        lambda s: list_events(s, span, asset=o.asset, signal=o.signal, kind=o.kind, limit=o.limit),
    )
    if as_json(json_, result):
        return
    shown = result["events"]
    assets = {e["signal"].rpartition("/")[0] for e in shown}
    one = assets.pop() if len(assets) == 1 else None  # name the asset once, in the title
    print_table(
        f"events{f' of {one}' if one else ''}: {result['shown']:,} of {result['total']:,}",
        ("ts", "signal", "kind", "severity", "message"),
        (
            (
                e["ts"],
                e["signal"].rpartition("/")[2] if one else e["signal"],
                e["kind"],
                e["severity"],
                e["message"],
            )
            for e in shown
        ),
        no_wrap=("ts",),
        column_style={"overflow": "fold"},
    )


@options_of(DeadLetterOptions)
def dead_letters(
    o: DeadLetterOptions, project: ProjectOption = None, json_: JsonOption = False
) -> None:
    """Show rejected input with the reason it was rejected, newest first."""
    from shopfloor.services.query import list_dead_letters, parse_time_range

    proj = load(project)
    since_ns = checked(parse_time_range, o.since, None, names=("--since", "")).start_ns
    result = with_store(
        proj,
        lambda s: list_dead_letters(
            s, since_ns=since_ns, source=o.source, asset=o.asset, signal=o.signal, limit=o.limit
        ),
    )
    if as_json(json_, result):
        return
    print_table(
        f"dead letters: {result['shown']:,} of {result['total']:,}",
        ("received", "source", "location", "reason", "payload"),
        (
            (
                d["received"],
                d["source"],
                d["location"],
                d["reason"],
                d["payload"] if len(d["payload"]) < 80 else d["payload"][:77] + "…",
            )
            for d in result["dead_letters"]
        ),
        column_style={"overflow": "fold"},
    )
