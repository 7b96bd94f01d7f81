"""``shopfloor opcua``: look into an OPC UA server before connecting it."""

from __future__ import annotations

import dataclasses

from shopfloor.cli.common import JsonOption, ProjectOption, checked, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, err_console, print_table
from shopfloor.services.options import BrowseOptions

__all__ = ["app"]

app = group_app("opcua")


@app.command()
@options_of(BrowseOptions, arguments=("url",))
def browse(
    options: BrowseOptions, project: ProjectOption = None, json_: JsonOption = False
) -> None:
    """Browse and search a server's address space; export nodes as signal config."""
    from shopfloor.services.listing import nodes_listing
    from shopfloor.services.opcua import browse as browse_nodes
    from shopfloor.services.opcua import check_browse, export_nodes

    options = dataclasses.replace(options, project=project)
    checked(check_browse, options)
    nodes = run_async(lambda: browse_nodes(options))
    if options.export is not None:
        count, skipped = export_nodes(
            nodes, options.export, options.connector, include_writable=options.include_writable
        )
        for path, reason in skipped:
            err_console.print(f"skipped {path}: {reason}")
        err_console.print(f"wrote {count} entries to {options.export}")
    if not as_json(json_, [dataclasses.asdict(n) for n in nodes]):
        print_table(nodes_listing(options.url, options.search, nodes))
