"""Commands on data: ingest recordings, query signals, list signals, events and dead letters.

The work is done by :mod:`shopfloor.services`; these commands parse options and print.
Services are imported when a command runs, so that ``shopfloor --help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shopfloor.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    JsonOption,
    ProjectOption,
    console,
    fail,
    load,
    print_json,
    run_async,
)
from shopfloor.cli.options import options_of
from shopfloor.services.ingest_options import IngestOptions

if TYPE_CHECKING:
    from rich.progress import Progress

    from shopfloor.connectors.recordings import RecordingReader

__all__ = ["dead_letters", "events", "ingest", "query", "signals"]

AssetFilter = Annotated[
    str | None, typer.Option("--asset", help="Only this asset and the assets below it.")
]
SignalFilter = Annotated[str | None, typer.Option("--signal", help="Only this signal (name).")]


# Spellings and bounds of the ingest options whose flag is not the field's name.
_INGEST_FLAGS: dict[str, dict[str, Any]] = {
    "channels": {"param_decls": ("--channels", "--variables")},
    "fmt": {"param_decls": ("--format",)},
    "header": {"param_decls": ("--header/--no-header",), "show_default": False},
    "rows": {"min": 1},
    "skip_rows": {"min": 0},
}


@options_of(IngestOptions, arguments=("paths",), flags=_INGEST_FLAGS)
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
    from shopfloor.errors import ConfigError
    from shopfloor.services.ingest import check_ingest
    from shopfloor.services.ingest import ingest as run_ingest

    proj = load(project)
    try:
        plan = check_ingest(options)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        with _progress_bar(json_) as bar:
            return await run_ingest(proj, plan, progress=lambda readers: _progress_of(bar, readers))

    summary = run_async(run)
    if json_:
        print_json(summary)
    else:
        _print_ingest(summary)
    rejected = summary["rows_rejected"] + summary["values_rejected"]
    if strict and rejected:
        fail(f"--strict: {rejected:,} rejected (see shopfloor dead-letters)", EXIT_FAILURE)


def _progress_bar(json_: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=json_,
        transient=False,
    )


def _progress_of(
    bar: Progress, readers: Sequence[RecordingReader]
) -> Callable[[RecordingReader, int], None]:
    """One bar per recording; one bar for them all when there are more than four."""
    if len(readers) <= 4:
        tasks = {id(r): bar.add_task(r.path.name, total=r.total) for r in readers}

        def each(reader: RecordingReader, done: int) -> None:
            bar.update(tasks[id(reader)], completed=done)

        return each
    task = bar.add_task(f"{len(readers)} files", total=sum(r.total for r in readers))
    done_by: dict[int, int] = {}

    def overall(reader: RecordingReader, done: int) -> None:
        done_by[id(reader)] = done
        bar.update(task, completed=sum(done_by.values()))

    return overall


def _print_ingest(s: dict[str, Any]) -> None:
    if s.get("waveform_blocks"):
        console.print(
            f"[bold green]ingested[/] {s['values_written']:,} of {s['waveform_blocks']:,} "
            f"waveform blocks ({s['waveform_samples']:,} samples) from "
            f"{len(s['files'])} recording(s) in {s['seconds']:.1f} s"
        )
    else:
        console.print(
            f"[bold green]ingested[/] {s['values_written']:,} values from {s['rows']:,} rows of "
            f"{len(s['files'])} file(s) in {s['seconds']:.1f} s"
            + (f" ({s['rows_per_s']:,} rows/s)" if s["rows_per_s"] else "")
        )
    if s["duplicates"]:
        console.print(f"  {s['duplicates']:,} values were already stored (duplicates, kept once)")
    if s["blank_lines"]:
        console.print(f"  {s['blank_lines']:,} blank lines skipped")
    rejected = s["rows_rejected"] + s["values_rejected"]
    if rejected:
        console.print(f"[yellow]  {rejected:,} rejected[/] and kept in the dead letters:")
        for reason, count in sorted(s["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
            console.print(f"    {count:>10,}  {reason}")
        for example in s["examples"][:5]:
            console.print(f"    e.g. {example['location']}: {example['reason']}", highlight=False)
        console.print("  see them all with: shopfloor dead-letters")


def query(
    signal: Annotated[str, typer.Option(help="Signal name (or full asset/.../signal path).")],
    asset: Annotated[str | None, typer.Option(help="ISA-95 path of the asset.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (ISO 8601 or now-1h); default: first value.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(help="End, exclusive (ISO 8601 or now); default: after the last value."),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(
            help="Downsample to min/max/mean per bucket, e.g. 1s, 5min (waveforms: of the "
            "blocks' RMS)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Read a signal's values (scalars, or waveform blocks and events as summaries)."""
    from shopfloor.errors import ConfigError
    from shopfloor.services.query import parse_every, parse_time_range, query_signal, signal_ref
    from shopfloor.services.store import project_store

    proj = load(project)
    try:
        ref = signal_ref(asset, signal)
        span = parse_time_range(from_, to)
        every_ns = parse_every(every)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        async with project_store(proj) as store:
            return await query_signal(store, ref, span, every_ns=every_ns, every=every, limit=limit)

    result = run_async(run)
    if json_:
        print_json(result)
        return
    from rich.table import Table

    rows = result["rows"]
    table = Table(title=f"{result['signal']} [{result['unit'] or '-'}] ({len(rows):,} rows)")
    if rows:
        for key in rows[0]:
            table.add_column(key, justify="right" if key != "ts" else "left")
        shown = rows if len(rows) <= 40 else [*rows[:20], None, *rows[-20:]]
        for row in shown:
            if row is None:
                table.add_row(*(["…"] * len(rows[0])))
            else:
                table.add_row(*(_cell(v) for v in row.values()))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def signals(
    asset: AssetFilter = None,
    signal: SignalFilter = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """List the signals the store knows, with how much data each has."""
    from shopfloor.services.query import list_signals
    from shopfloor.services.store import project_store

    proj = load(project)

    async def run() -> list[dict[str, Any]]:
        async with project_store(proj) as store:
            return await list_signals(store, asset=asset, signal=signal)

    rows = run_async(run)
    if json_:
        print_json(rows)
        return
    from rich.table import Table

    console.print(f"[bold]signals of {proj.config.project.name}[/]: {len(rows):,}")
    for group, members in _by_asset(rows).items():
        table = Table(title=group, title_justify="left")
        table.add_column("signal", no_wrap=True)  # names whole; the times fold instead
        for column in ("kind", "unit", "count", "first", "last"):
            table.add_column(
                column, justify="right" if column == "count" else "left", overflow="fold"
            )
        for row in members:
            table.add_row(
                row["name"],
                row["kind"],
                row["unit"] or "-",
                f"{row['count']:,}",
                row["first"] or "-",
                row["last"] or "-",
            )
        console.print(table)


def _by_asset(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by asset (shown once per group, so long paths do not crowd names out)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["asset"], []).append(row)
    return groups


def events(
    asset: AssetFilter = None,
    signal: SignalFilter = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind (gap, program_change, alert_raised, ...).")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601 or now-1h).")] = None,
    to: Annotated[str | None, typer.Option(help="End, exclusive (ISO 8601 or now).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 100,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Show events (data gaps, program changes, alarms), newest first."""
    from shopfloor.errors import ConfigError
    from shopfloor.services.query import list_events, parse_time_range
    from shopfloor.services.store import project_store

    proj = load(project)
    try:
        span = parse_time_range(from_, to)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        async with project_store(proj) as store:
            return await list_events(
                store, span, asset=asset, signal=signal, kind=kind, limit=limit
            )

    result = run_async(run)
    if json_:
        print_json(result)
        return
    from rich.table import Table

    shown = result["events"]
    assets = {e["signal"].rpartition("/")[0] for e in shown}
    one = assets.pop() if len(assets) == 1 else None  # name the asset once, in the title
    title = f"events{f' of {one}' if one else ''}: {result['shown']:,} of {result['total']:,}"
    table = Table(title=title)
    for column in ("ts", "signal", "kind", "severity", "message"):
        table.add_column(column, overflow="fold", no_wrap=column == "ts")
    for e in shown:
        signal = e["signal"].rpartition("/")[2] if one else e["signal"]
        table.add_row(e["ts"], signal, e["kind"], e["severity"], e["message"])
    console.print(table)


def dead_letters(
    since: Annotated[
        str | None, typer.Option(help="Only those received since (ISO 8601 or now-1h).")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Only from this source (ingest, a connector).")
    ] = None,
    asset: AssetFilter = None,
    signal: SignalFilter = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Show rejected input with the reason it was rejected, newest first."""
    from shopfloor.errors import ConfigError
    from shopfloor.services.query import list_dead_letters, parse_time_range
    from shopfloor.services.store import project_store

    proj = load(project)
    try:
        since_ns = parse_time_range(since, None, names=("--since", "")).start_ns
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        async with project_store(proj) as store:
            return await list_dead_letters(
                store, since_ns=since_ns, source=source, asset=asset, signal=signal, limit=limit
            )

    result = run_async(run)
    if json_:
        print_json(result)
        return
    from rich.table import Table

    table = Table(title=f"dead letters: {result['shown']:,} of {result['total']:,}")
    for column in ("received", "source", "location", "reason", "payload"):
        table.add_column(column, overflow="fold")
    for d in result["dead_letters"]:
        payload = d["payload"]
        table.add_row(
            d["received"],
            d["source"],
            d["location"],
            d["reason"],
            payload if len(payload) < 80 else payload[:77] + "…",
        )
    console.print(table)
