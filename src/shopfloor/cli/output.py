"""What commands print, written once: the consoles, errors, JSON, tables, health, progress.

Rich is imported when a table or a bar is drawn, so that ``shopfloor --help`` stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

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
    "health_lines",
    "plain",
    "print_json",
    "print_status",
    "print_summary",
    "print_table",
    "progress_bar",
]

EXIT_FAILURE = 1
EXIT_CONFIG = 2

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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


def health_lines(health: Any, depth: int = 0) -> list[str]:
    """Nested health as indented ``name: value`` lines (no Python reprs)."""
    pad = "  " * depth
    if not isinstance(health, dict):
        return [f"{pad}{health}"]
    lines = []
    for name, value in health.items():
        if isinstance(value, dict):
            flat = all(not isinstance(v, dict | list) for v in value.values())
            if flat and len(value) <= 6:
                pairs = ", ".join(f"{k} {plain(v)}" for k, v in value.items())
                lines.append(f"{pad}[bold]{name}[/]: {pairs}")
            else:
                lines.append(f"{pad}[bold]{name}[/]")
                lines.extend(health_lines(value, depth + 1))
        else:
            lines.append(f"{pad}[bold]{name}[/]: {plain(value)}")
    return lines


def print_status(result: Mapping[str, Any]) -> None:
    """Print ``shopfloor status``: whether it runs, the store's tables, each part's health."""
    state = "[green]running[/]" if result["running"] else "[yellow]not running[/]"
    console.print(f"platform: {state}" + (f" (pid {result['pid']})" if "pid" in result else ""))
    store = result.get("store")
    if store and store.get("state") == "failed":
        console.print(f"store: [red]failed[/]: {store.get('reason')}", highlight=False)
    elif store:
        console.print(f"store: {store['location']} ({store['size_bytes'] / 1e6:.1f} MB)")
        rows = [(n, f"{r:,}") for n, r in store["rows"].items()]
        print_table(Listing(None, ("table", "rows"), rows, numbers=("rows",)))
    for line in health_lines(result.get("services") or {}):
        console.print(line, highlight=False)


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
