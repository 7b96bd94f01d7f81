"""The ``shopfloor`` command."""

from __future__ import annotations

import asyncio
import signal as signals_module
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from shopfloor import __version__
from shopfloor.cli import data, demo, later, opcua, pipelines, sim, tokens
from shopfloor.cli.common import (
    EXIT_CONFIG,
    JsonOption,
    ProjectOption,
    console,
    fail,
    load,
    print_json,
    run_async,
    setup_logging,
)
from shopfloor.config import find_project, load_project
from shopfloor.config.template import write_example_project
from shopfloor.errors import ConfigError
from shopfloor.node import Platform, read_lock
from shopfloor.node.lock import read_token
from shopfloor.store import DuckDBStore

__all__ = ["app", "main"]

app = typer.Typer(
    name="shopfloor",
    help="Smart Factory platform: connect machines, keep their data, run models on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"shopfloor {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Smart Factory platform: connect machines, keep their data, run models on it."""
    setup_logging(verbose)


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Folder for the new project.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing factory.yaml.")] = False,
) -> None:
    """Write a commented example project (factory.yaml) into FOLDER."""
    try:
        target = write_example_project(folder, force=force)
        load_project(target)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    console.print(f"[green]wrote[/] {target}")
    console.print(f"next: edit it, then [bold]shopfloor validate -p {folder}[/]")


@app.command()
def validate(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Check the project file; print every problem with its file, line and field."""
    try:
        proj = load_project(find_project(project))
    except ConfigError as err:
        if json_:
            print_json({"valid": False, "error": str(err).splitlines()[0], "issues": err.issues})
            raise typer.Exit(EXIT_CONFIG) from None
        fail(str(err), EXIT_CONFIG)
    config = proj.config
    summary = {
        "valid": True,
        "file": str(proj.file),
        "project": config.project.name,
        "assets": len(config.assets),
        "signals": sum(len(a.signals) for a in config.assets),
        "connectors": len(config.connectors),
        "pipelines": len(config.pipelines),
        "models": len(config.models),
        "deployments": len(config.deployments),
        "alert_rules": len(config.alert_rules),
    }
    if json_:
        print_json(summary)
        return
    console.print(
        f"[green]valid[/] {proj.file}: "
        + ", ".join(
            f"{v} {k}" for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool)
        )
    )


def _platform_services(project: Any) -> list[Any]:
    """The services a platform of this project runs (connectors, pipelines)."""
    from shopfloor.node.services import project_services

    return project_services(project)


@app.command()
def run(
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop by itself after S seconds.")
    ] = None,
    api_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Override the API port (0: any free).")
    ] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run without the HTTP API.")] = False,
    project: ProjectOption = None,
) -> None:
    """Run the platform: connectors, bus, store, pipelines and API, until Ctrl-C."""
    proj = load(project)

    async def main() -> None:
        platform = Platform(
            proj, api=not no_api, api_port=api_port, services=_platform_services(proj)
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signals_module.SIGINT, signals_module.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await platform.start()
        console.print(
            f"[green]running[/] {proj.config.project.name}: store "
            f"{proj.store_path}, API {platform.api_url or 'off'}"
            + (f", stopping after {duration:g} s" if duration is not None else ", Ctrl-C to stop")
        )
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration)
        except TimeoutError:
            pass
        finally:
            status = await platform.status()
            await platform.stop()
        sink = status["store_sink"]
        console.print(
            f"stopped: {sink['written']:,} values written, "
            f"{sink['duplicates']:,} duplicates, {sink['rejected']:,} rejected"
        )

    run_async(main)


@app.command()
def serve(
    api_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Override the API port.")
    ] = None,
    duration: Annotated[float | None, typer.Option(min=0, help="Stop after S seconds.")] = None,
    project: ProjectOption = None,
) -> None:
    """Serve the API over the store without connectors or pipelines."""
    proj = load(project)

    async def main() -> None:
        platform = Platform(proj, api=True, api_port=api_port)
        await platform.start()
        console.print(f"[green]serving[/] {platform.api_url} (OpenAPI: {platform.api_url}/docs)")
        try:
            await asyncio.sleep(duration if duration is not None else float("inf"))
        finally:
            await platform.stop()

    run_async(main)


@app.command()
def status(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Show whether the platform runs, the health of its parts and what the store holds."""
    proj = load(project)

    async def main() -> dict[str, Any]:
        lock = read_lock(proj.state_dir)
        if lock is not None and lock.api_url:
            import httpx

            token = read_token(proj.state_dir)
            headers = {"authorization": f"Bearer {token}"} if token else {}
            async with httpx.AsyncClient(
                base_url=lock.api_url, timeout=10, headers=headers
            ) as client:
                try:
                    response = await client.get("/api/v1/status")
                except httpx.TransportError as err:
                    return {"running": True, "pid": lock.pid, "error": f"API unreachable: {err}"}
            body: dict[str, Any] = response.json()
            if response.status_code != 200:
                detail = body.get("detail", response.text)
                return {"running": True, "pid": lock.pid, "error": f"API refused: {detail}"}
            return {"running": True, **body}
        if not proj.store_path.exists():
            return {"running": False, "store": None}
        store = DuckDBStore(proj.store_path, proj.config.store)
        await store.open()
        try:
            stats = await store.stats()
        finally:
            await store.close()
        return {
            "running": False,
            "store": {
                "rows": stats.rows,
                "size_bytes": stats.size_bytes,
                "location": stats.location,
            },
        }

    result = run_async(main)
    if json_:
        print_json(result)
        return
    state = "[green]running[/]" if result["running"] else "[yellow]not running[/]"
    console.print(f"platform: {state}")
    if result.get("error"):
        console.print(f"[red]{result['error']}[/]", highlight=False)
    store = result.get("store")
    if store:
        table = Table(title=f"store {store['location']} ({store['size_bytes'] / 1e6:.1f} MB)")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, rows in store["rows"].items():
            table.add_row(name, f"{rows:,}")
        console.print(table)
    for name, health in (result.get("services") or {}).items():
        console.print(f"[bold]{name}[/]: {health}")


app.command()(data.ingest)
app.command()(data.query)
app.command()(data.signals)
app.command("dead-letters")(data.dead_letters)
app.command()(demo.demo)
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(opcua.app, name="opcua")
app.add_typer(sim.app, name="sim")
app.add_typer(tokens.app, name="tokens")
later.register(app)


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
