"""Look into an OPC UA server before connecting it: browse, search, export as signals."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from shopfloor.config import environment, find_project
from shopfloor.connectors.opcua.browse import (
    BrowsedNode,
    browse_server,
    nodes_to_csv,
    nodes_to_signals,
    signals_yaml,
)
from shopfloor.connectors.opcua.client import connect_client, disconnect_client
from shopfloor.connectors.opcua.config import OpcUaConfig, security_mode_of
from shopfloor.errors import ConfigError
from shopfloor.services.options import BrowseOptions

__all__ = ["EXPORT_SUFFIXES", "BrowseOptions", "browse", "check_browse", "export_nodes"]

EXPORT_SUFFIXES = (".yaml", ".yml", ".csv")


def check_browse(options: BrowseOptions) -> OpcUaConfig:
    """The connector config of ``options``.

    Raises
    ------
    ConfigError
        Naming the option (``--security``, ``--export``) or the URL and what is wrong.
    """
    export = options.export
    if export is not None and export.suffix.lower() not in EXPORT_SUFFIXES:
        raise ConfigError(f"--export {export}: use a .yaml or .csv file name")
    try:
        mode = security_mode_of(options.security)
    except ValueError as err:
        raise ConfigError(f"--security: {err}") from err
    try:
        return OpcUaConfig(
            name=options.connector,
            endpoint=options.url,
            security_mode=mode,
            username_env=options.username_env,
            password_env=options.password_env,
            request_timeout_s=options.timeout_s,
        )
    except ValidationError as err:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        raise ConfigError(f"{options.url}: {problems}") from err


async def browse(options: BrowseOptions) -> list[BrowsedNode]:
    """Connect, browse the address space below Objects (``depth`` levels), disconnect.

    Raises
    ------
    ConfigError, ConnectorError
        When the options are wrong or the server cannot be reached.
    """
    config = check_browse(options)
    pki = _state_dir(options.project) / "connectors" / options.connector / "pki"
    client = await connect_client(config, pki, environment())
    try:
        return await browse_server(client, search=options.search, depth=options.depth)
    finally:
        await disconnect_client(client)


def export_nodes(
    nodes: list[BrowsedNode], path: Path, connector: str, *, include_writable: bool = True
) -> tuple[int, list[tuple[str, str]]]:
    """Write ``nodes`` to ``path``: ``.csv`` (every node) or ``.yaml`` (a signals list).

    Writable variables are exported too (the connector only reads a bound signal) unless
    ``include_writable`` is false; then they are listed as skipped, as is every variable
    that cannot be a signal.

    Returns
    -------
    tuple
        How many entries were written, and ``(browse path, reason)`` of each node skipped.
    """
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ConfigError(f"--export {path}: use a .yaml or .csv file name")
    if path.suffix.lower() == ".csv":
        path.write_text(nodes_to_csv(nodes), encoding="utf-8")
        return len(nodes), []
    result = nodes_to_signals(nodes, connector)
    if not include_writable:
        writable = {n.node_id: n.path for n in nodes if n.writable}
        result.skipped.extend(
            (writable[s["source"]], "writable (--no-include-writable)")
            for s in result.signals
            if s["source"] in writable
        )
        result.signals[:] = [s for s in result.signals if s["source"] not in writable]
    path.write_text(signals_yaml(result), encoding="utf-8")
    return len(result.signals), list(result.skipped)


def _state_dir(project: Path | None) -> Path:
    """The project's state folder (client certificates live there), else ~/.shopfloor."""
    try:
        return find_project(project).parent / ".shopfloor"
    except ConfigError:
        return Path.home() / ".shopfloor"
