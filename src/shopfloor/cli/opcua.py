"""``shopfloor opcua``: look into an OPC UA server before connecting it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopfloor.cli.common import (
    EXIT_CONFIG,
    JsonOption,
    ProjectOption,
    console,
    err_console,
    fail,
    print_json,
    run_async,
)

__all__ = ["app"]

app = typer.Typer(
    help="OPC UA: browse a server and export its tags as signals.", no_args_is_help=True
)


@app.command()
def browse(
    url: Annotated[str, typer.Argument(help="Endpoint, e.g. opc.tcp://127.0.0.1:4840.")],
    search: Annotated[
        str | None, typer.Option(help="Only nodes whose path or description contains this text.")
    ] = None,
    depth: Annotated[int, typer.Option(min=1, max=20, help="Levels below Objects.")] = 6,
    security: Annotated[
        str,
        typer.Option(
            help="none, sign or encrypt (Basic256Sha256); None, Sign, SignAndEncrypt too, "
            "in any case."
        ),
    ] = "none",
    username_env: Annotated[
        str | None, typer.Option(help="Variable holding the user name.")
    ] = None,
    password_env: Annotated[str | None, typer.Option(help="Variable holding the password.")] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Write the variables as signal config: .yaml (signals list) or .csv (all nodes)."
        ),
    ] = None,
    connector: Annotated[
        str, typer.Option(help="Connector name in the exported signals.")
    ] = "opcua",
    include_writable: Annotated[
        bool,
        typer.Option(
            help="Export writable variables too (bound read-only: the connector only reads)."
        ),
    ] = True,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.")] = 10.0,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Browse and search a server's address space; export nodes as signal config."""
    from shopfloor.errors import ConfigError
    from shopfloor.services.opcua import EXPORT_SUFFIXES, BrowseOptions, check_browse
    from shopfloor.services.opcua import browse as browse_nodes
    from shopfloor.services.opcua import export_nodes as write_export

    if export is not None and export.suffix.lower() not in EXPORT_SUFFIXES:
        fail(f"--export {export}: use a .yaml or .csv file name", EXIT_CONFIG)
    options = BrowseOptions(
        url, search, depth, security, username_env, password_env, connector, timeout, project
    )
    try:
        check_browse(options)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    nodes = run_async(lambda: browse_nodes(options))
    if export is not None:
        count, skipped = write_export(nodes, export, connector, include_writable=include_writable)
        for path, reason in skipped:
            err_console.print(f"skipped {path}: {reason}")
        err_console.print(f"wrote {count} entries to {export}")
    if json_:
        from dataclasses import asdict

        print_json([asdict(n) for n in nodes])
        return
    from rich.table import Table

    table = Table(
        title=f"{url}: {len(nodes)} node(s)" + (f" matching {search!r}" if search else "")
    )
    for column in ("path", "node id", "class", "type", "unit", "hist.", "description"):
        table.add_column(column, overflow="fold")
    for node in nodes:
        kind = node.data_type or "-"
        if node.value_rank is not None and node.value_rank >= 1:
            kind += f"[{node.array_length or ''}]"
        table.add_row(
            node.path,
            node.node_id,
            node.node_class,
            kind,
            node.unit or "-",
            "yes" if node.historizing else "",
            node.description,
        )
    console.print(table)
