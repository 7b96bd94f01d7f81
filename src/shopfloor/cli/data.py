"""Commands on data: ingest recordings, query signals, list signals, events and dead letters.

The work is done by :mod:`shopfloor.services`; these commands parse options and print.
Services are imported when a command runs, so that ``shopfloor --help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load, run_async, with_store
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, console, fail, print_summary, print_table, progress_bar
from shopfloor.services.ingest_options import IngestOptions
from shopfloor.services.options import DeadLetterOptions, EventOptions, QueryOptions, SignalOptions

if TYPE_CHECKING:
    from rich.progress import Progress

    from shopfloor.connectors.recordings import RecordingReader
    from shopfloor.services.ingest import IngestSummary

__all__ = ["dead_letters", "events", "ingest", "query", "signals"]


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
    from shopfloor.services.listing import values_listing
    from shopfloor.services.query import query as query_values

    result = with_store(load(project), lambda store: query_values(store, o))
    if not as_json(json_, result):
        print_table(values_listing(result))


@options_of(SignalOptions)
def signals(o: SignalOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the signals the store knows, with how much data each has."""
    from shopfloor.services.listing import signals_listings
    from shopfloor.services.query import list_signals

    proj = load(project)
    rows = with_store(proj, lambda store: list_signals(store, o))
    if as_json(json_, rows):
        return
    console.print(f"[bold]signals of {proj.config.project.name}[/]: {len(rows):,}")
    for listing in signals_listings(rows):
        print_table(listing, title_justify="left")


@options_of(EventOptions)
def events(o: EventOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Show events (data gaps, program changes, alarms), newest first."""
    from shopfloor.services.listing import events_listing
    from shopfloor.services.query import list_events

    result = with_store(load(project), lambda store: list_events(store, o))
    if not as_json(json_, result):
        print_table(events_listing(result))


@options_of(DeadLetterOptions)
def dead_letters(
    o: DeadLetterOptions, project: ProjectOption = None, json_: JsonOption = False
) -> None:
    """Show rejected input with the reason it was rejected, newest first."""
    from shopfloor.services.listing import dead_letters_listing
    from shopfloor.services.query import list_dead_letters

    result = with_store(load(project), lambda store: list_dead_letters(store, o))
    if not as_json(json_, result):
        print_table(dead_letters_listing(result))
