"""The ``shopfloor`` command."""

from __future__ import annotations

import asyncio
import gc
import signal as signals_module
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shopfloor import __version__
from shopfloor.cli import demo
from shopfloor.cli.common import JsonOption, ProjectOption, checked, load, run_async, setup_logging
from shopfloor.cli.lazy import LazyGroup
from shopfloor.cli.options import options_of
from shopfloor.cli.output import EXIT_CONFIG, as_json, console, fail, print_status, print_summary
from shopfloor.services.options import ServeOptions

if TYPE_CHECKING:
    from shopfloor.services.platform import Stored

__all__ = ["app", "main"]

# Commands import what they need when they run: `shopfloor --help` imports no numpy,
# scipy, DuckDB or asyncua (tests/cli/test_startup.py checks it).


app = typer.Typer(
    cls=LazyGroup,
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
    from shopfloor.config import load_project
    from shopfloor.config.template import write_example_project

    target = checked(write_example_project, folder, force=force)
    checked(load_project, target)
    console.print(f"[green]wrote[/] {target}")
    console.print(f"next: edit it, then [bold]shopfloor validate -p {folder}[/]")


@app.command()
def validate(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Check the project file; print every problem with its file, line and field."""
    from shopfloor.services.project import validate_project

    check = validate_project(project)
    if as_json(json_, check.as_dict()):
        if check.error is not None:
            raise typer.Exit(EXIT_CONFIG)
    elif check.error is not None:  # fail prints brackets as written: values may look like markup
        fail(str(check), EXIT_CONFIG)
    else:
        print_summary([str(check)])


EXIT_PORT_IN_USE = 3


def _run_platform(o: ServeOptions, project: Path | None, *, api: bool, services: bool) -> Stored:
    """Run the platform (``run``, ``serve``) until Ctrl-C, SIGTERM or ``--duration``.

    A taken API port exits with status 3 and what to do about it.
    """
    from shopfloor.errors import PortInUse
    from shopfloor.services.platform import run_platform

    duration_s = checked(lambda: o.duration_s)
    proj = load(project)
    api_factory = None
    if api and proj.config.api.enabled:
        from shopfloor.api.server import api_server_factory
        from shopfloor.studio import studio_factory

        api_factory = api_server_factory(proj, port=o.api_port, studio=studio_factory(proj))

    async def main() -> Stored:
        stop = asyncio.Event()
        for sig in (signals_module.SIGINT, signals_module.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        try:
            return await run_platform(
                proj,
                api=api_factory,
                services=services,
                duration_s=duration_s,
                stop=stop,
                started=lambda text: print_summary([text]),
            )
        except PortInUse as err:
            fail(f"{err}; set api.port or --port", EXIT_PORT_IN_USE)

    return run_async(main)


@app.command()
@options_of(ServeOptions)
def run(
    o: ServeOptions,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run without the HTTP API.")] = False,
    project: ProjectOption = None,
) -> None:
    """Run the platform: connectors, bus, store, pipelines and API, until Ctrl-C."""
    console.print(str(_run_platform(o, project, api=not no_api, services=True)))


@app.command()
@options_of(ServeOptions)
def serve(o: ServeOptions, project: ProjectOption = None) -> None:
    """Serve the API over the store without connectors or pipelines."""
    _run_platform(o, project, api=True, services=False)


@app.command()
def status(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Show whether the platform runs, the health of its parts and what the store holds."""
    from shopfloor.services.status import platform_status

    proj = load(project, build_pipelines=False)
    result = run_async(lambda: platform_status(proj))
    if not as_json(json_, result):
        print_status(result)
    if result.get("error"):
        fail(result["error"])


app.command()(demo.demo)


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    finally:
        gc.freeze()  # the process ends: its last full collection would only slow the exit


if __name__ == "__main__":
    main()
