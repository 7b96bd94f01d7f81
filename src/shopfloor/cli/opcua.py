"""``shopfloor opcua``: look into an OPC UA server before connecting it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

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
from shopfloor.config import environment, find_project
from shopfloor.connectors.opcua.browse import (
    browse_server,
    nodes_to_csv,
    nodes_to_signals,
    signals_yaml,
)
from shopfloor.connectors.opcua.client import connect_client, disconnect_client
from shopfloor.connectors.opcua.config import OpcUaConfig
from shopfloor.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="OPC UA: browse a server and export its tags as signals.", no_args_is_help=True
)

_SECURITY = {"none": "None", "sign": "Sign", "encrypt": "SignAndEncrypt"}


@app.command()
def browse(
    url: Annotated[str, typer.Argument(help="Endpoint, e.g. opc.tcp://127.0.0.1:4840.")],
    search: Annotated[
        str | None, typer.Option(help="Only nodes whose path or description contains this text.")
    ] = None,
    depth: Annotated[int, typer.Option(min=1, max=20, help="Levels below Objects.")] = 6,
    security: Annotated[str, typer.Option(help="none, sign or encrypt (Basic256Sha256).")] = "none",
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
    if security not in _SECURITY:
        fail(f"--security must be none, sign or encrypt, got {security!r}", EXIT_CONFIG)
    if export is not None and export.suffix.lower() not in (".yaml", ".yml", ".csv"):
        fail(f"--export {export}: use a .yaml or .csv file name", EXIT_CONFIG)
    try:
        config = OpcUaConfig(
            name=connector,
            endpoint=url,
            security_mode=_SECURITY[security],
            username_env=username_env,
            password_env=password_env,
            request_timeout_s=timeout,
        )
    except ValidationError as err:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        fail(f"{url}: {problems}", EXIT_CONFIG)
    state = _state_dir(project)

    async def run() -> list[Any]:
        client = await connect_client(
            config, state / "connectors" / connector / "pki", environment()
        )
        try:
            return await browse_server(client, search=search, depth=depth)
        finally:
            await disconnect_client(client)

    nodes = run_async(run)
    if export is not None:
        if export.suffix.lower() == ".csv":
            export.write_text(nodes_to_csv(nodes), encoding="utf-8")
            count = len(nodes)
        else:
            result = nodes_to_signals(nodes, connector)
            if not include_writable:
                writable = {n.node_id: n.path for n in nodes if n.writable}
                result.skipped.extend(
                    (writable[s["source"]], "writable (--no-include-writable)")
                    for s in result.signals
                    if s["source"] in writable
                )
                result.signals[:] = [s for s in result.signals if s["source"] not in writable]
            export.write_text(signals_yaml(result), encoding="utf-8")
            count = len(result.signals)
            for path, reason in result.skipped:
                err_console.print(f"skipped {path}: {reason}")
        err_console.print(f"wrote {count} entries to {export}")
    if json_:
        from dataclasses import asdict

        print_json([asdict(n) for n in nodes])
        return
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


def _state_dir(project: Path | None) -> Path:
    """The project's state folder (client certificates live there), else ~/.shopfloor."""
    try:
        return find_project(project).parent / ".shopfloor"
    except ConfigError:
        return Path.home() / ".shopfloor"
