"""What commands print, written once: the consoles, errors, JSON, tables, health, progress.

Rich is imported when a table or a bar is drawn, so that ``shopfloor --help`` stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from shopfloor.services.listing import Listing

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "as_json",
    "console",
    "err_console",
    "fail",
    "plain",
    "print_json",
    "print_status",
    "print_summary",
    "print_table",
    "progress_bar",
    "show",
]

EXIT_FAILURE = 1
EXIT_CONFIG = 2

T = TypeVar("T")

console = Console(emoji=False)  # data is printed as it is (and the emoji table stays unloaded)
err_console = Console(stderr=True, emoji=False)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print ``message`` as an error and exit with ``code`` (its brackets printed as they are)."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Print JSON to standard output (plain, so it pipes into jq)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def as_json(json_: bool, data: Any) -> bool:
    """Print ``data`` as JSON when ``json_`` (``--json`` was given); return ``json_``."""
    if json_:
        print_json(data)
    return json_


def show(json_: bool, result: T, view: Callable[[T], Sequence[str | Listing]]) -> None:
    """Print ``result`` as JSON (``--json``), else as ``view`` words it: lines and tables.

    ``view`` is the service's presenter, so the CLI, the API and the Studio say the same.
    """
    from rich.markup import escape

    if as_json(json_, result):
        return
    for part in view(result):
        if isinstance(part, Listing):
            print_table(part)
        else:  # words, never markup: a unit such as [g] is printed as written
            console.print(escape(part), highlight=False, soft_wrap=True)


def print_summary(lines: Sequence[str]) -> None:
    """Print a summary of what was done (plain text), its first word (the verb) in green."""
    from rich.markup import escape

    verb, _, rest = lines[0].partition(" ") if lines else ("", "", "")
    console.print(
        f"[bold green]{escape(verb)}[/] {escape(rest)}", *map(escape, lines[1:]), sep="\n"
    )


def plain(value: Any) -> str:
    """``value`` as a table cell: floats to 6 digits, lists joined, ``None`` as ``-``."""
    if isinstance(value, list):
        return ", ".join(plain(v) for v in value) or "-"
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def print_table(listing: Listing, **table: Any) -> None:
    """Print ``listing`` as a table: cells through :func:`plain`, folded when too wide.

    ``table`` holds keywords of :class:`rich.table.Table` (``title_justify``...).
    """
    from rich.markup import escape
    from rich.table import Table

    shown = Table(title=listing.title, **table)
    for column in listing.columns:
        shown.add_column(
            column,
            justify="right" if column in listing.numbers else "left",
            no_wrap=column in listing.whole,
            overflow="fold",
        )
    for row in listing.rows:
        shown.add_row(*(escape(plain(cell)) for cell in row))
    console.print(shown)


def print_status(result: dict[str, Any]) -> None:
    """Print ``shopfloor status`` as :func:`~shopfloor.services.status.status_lines` words it."""
    from shopfloor.services.status import status_lines

    head, rows, health = status_lines(result)
    console.print(*head, sep="\n", highlight=False)
    if rows:
        print_table(Listing(None, ("table", "rows"), [(n, f"{r:,}") for n, r in rows], ("rows",)))
    if health:
        console.print(*health, sep="\n", highlight=False)


def progress_bar(
    *middle: ProgressColumn, disable: bool = False, remaining: bool = False
) -> Progress:
    """A bar: the task's name, the bar, the ``middle`` columns, the time taken (and left)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    ends = (TimeElapsedColumn(), TimeRemainingColumn()) if remaining else (TimeElapsedColumn(),)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        *middle,
        *ends,
        console=console,
        disable=disable,
        transient=False,
    )
