"""``shopfloor opcua``: look into an OPC UA server before connecting it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import EXIT_CONFIG, as_json, err_console, fail, print_table
from shopfloor.services.options import BrowseOptions

__all__ = ["app"]

app = group_app("opcua")


@app.command()
@options_of(BrowseOptions, arguments=("url",))
def browse(
    options: BrowseOptions,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Write the variables as signal config: .yaml (signals list) or .csv (all nodes)."
        ),
    ] = None,
    include_writable: Annotated[
        bool,
        typer.Option(
            help="Export writable variables too (bound read-only: the connector only reads)."
        ),
    ] = True,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Browse and search a server's address space; export nodes as signal config."""
    from shopfloor.services.listing import nodes_listing
    from shopfloor.services.opcua import EXPORT_SUFFIXES, check_browse, export_nodes
    from shopfloor.services.opcua import browse as browse_nodes

    if export is not None and export.suffix.lower() not in EXPORT_SUFFIXES:
        fail(f"--export {export}: use a .yaml or .csv file name", EXIT_CONFIG)
    options = dataclasses.replace(options, project=project)
    checked(check_browse, options)
    nodes = run_async(lambda: browse_nodes(options))
    if export is not None:
        count, skipped = export_nodes(
            nodes, export, options.connector, include_writable=include_writable
        )
        for path, reason in skipped:
            err_console.print(f"skipped {path}: {reason}")
        err_console.print(f"wrote {count} entries to {export}")
    if as_json(json_, [dataclasses.asdict(n) for n in nodes]):
        return
    print_table(nodes_listing(options.url, options.search, nodes))
