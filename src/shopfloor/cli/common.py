"""What every command shares: the console, project loading, errors and exit codes.

Exit status: 0 success, 1 failure, 2 usage or configuration error. Every
:class:`~shopfloor.errors.ShopfloorError` is shown as one clear message (no traceback;
``-v`` adds it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from shopfloor.errors import ConfigError, ShopfloorError

if TYPE_CHECKING:
    from shopfloor.config import Project

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "JsonOption",
    "ProjectOption",
    "console",
    "err_console",
    "fail",
    "load",
    "print_json",
    "run_async",
    "setup_logging",
]

T = TypeVar("T")
EXIT_FAILURE = 1
EXIT_CONFIG = 2

console = Console()
err_console = Console(stderr=True)

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="Project folder or factory.yaml (default: search "
        "from the current folder up; or $SHOPFLOOR_PROJECT).",
        envvar="SHOPFLOOR_PROJECT",
        show_envvar=False,
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

_verbose = {"level": 0}


def setup_logging(verbose: int) -> None:
    """Configure logging handlers (only the CLI does this)."""
    from rich.logging import RichHandler

    _verbose["level"] = verbose
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(name)s %(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=True)],
        force=True,
    )
    for noisy in ("asyncua", "uvicorn", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load(project: Path | None, *, build_pipelines: bool = True) -> Project:
    """Find and load the project, exiting with status 2 on any problem.

    ``build_pipelines=False`` skips the feature-catalog check (and its scipy import), for
    commands that only need the project's places and settings.
    """
    from shopfloor.config import find_project, load_project

    try:
        start = project or (
            Path(os.environ["SHOPFLOOR_PROJECT"]) if os.environ.get("SHOPFLOOR_PROJECT") else None
        )
        return load_project(find_project(start), build_pipelines=build_pipelines)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)


def run_async(coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine (the CLI holds the only ``asyncio.run``) mapping errors to exits."""
    try:
        return asyncio.run(coro())
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except ConfigError as err:
        if _verbose["level"] > 1:
            err_console.print_exception()
        fail(str(err), EXIT_CONFIG)
    except ShopfloorError as err:
        if _verbose["level"] > 1:
            err_console.print_exception()
        fail(str(err), EXIT_FAILURE)


def print_json(data: Any) -> None:
    """Print JSON to standard output (plain, so it pipes into jq)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
