"""What every command shares: the options, project loading, logging and running.

Exit status: 0 success, 1 failure, 2 usage or configuration error. Every
:class:`~shopfloor.errors.ShopfloorError` is shown as one clear message (no traceback;
``-v`` adds it). What commands print is in :mod:`shopfloor.cli.output`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from shopfloor.cli.output import EXIT_CONFIG, EXIT_FAILURE, err_console, fail
from shopfloor.errors import ConfigError, ShopfloorError

if TYPE_CHECKING:
    from shopfloor.config import Project
    from shopfloor.store import Store

__all__ = [
    "JsonOption",
    "ProjectOption",
    "checked",
    "current_user",
    "load",
    "run_async",
    "setup_logging",
    "with_store",
]

T = TypeVar("T")
P = ParamSpec("P")

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


def checked(check: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``check(*args, **kwargs)``, exiting with its message on an error of the platform.

    The status is 2 for a configuration error, else 1 (as :func:`run_async`).
    """
    try:
        return check(*args, **kwargs)
    except ShopfloorError as err:
        fail(str(err), EXIT_CONFIG if isinstance(err, ConfigError) else EXIT_FAILURE)


def current_user() -> str:
    """Who runs the command (the OS user), for the records it leaves (labels, models)."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor the user database
        return "unknown"


def load(project: Path | None, *, build_pipelines: bool = True) -> Project:
    """Find and load the project, exiting with status 2 on any problem.

    ``build_pipelines=False`` skips the feature-catalog check (and its scipy import), for
    commands that only need the project's places and settings.
    """
    from shopfloor.config import find_project, load_project

    # --project reads $SHOPFLOOR_PROJECT itself (ProjectOption's envvar)
    return checked(lambda: load_project(find_project(project), build_pipelines=build_pipelines))


def run_async(coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine (the CLI holds the only ``asyncio.run``) mapping errors to exits."""
    try:
        return asyncio.run(coro())
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except ShopfloorError as err:
        if _verbose["level"] > 1:
            err_console.print_exception()
        fail(str(err), EXIT_CONFIG if isinstance(err, ConfigError) else EXIT_FAILURE)


def with_store(project: Project, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` on the project's store, opened for it and closed after."""
    from shopfloor.services.store import project_store

    async def main() -> T:
        async with project_store(project) as store:
            return await work(store)

    return run_async(main)
