"""``shopfloor demo``: both use cases, on the embedded default (DuckDB, in-process bus).

:mod:`shopfloor.services.demo` runs them; this command shows their progress and the
summary. ``--headless`` prints no progress bars and exits 0 only when both use cases met
their checks (as every run does; the flag is for logs and CI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from shopfloor.cli.common import checked, run_async
from shopfloor.cli.options import options_of
from shopfloor.cli.output import console, print_summary, progress_bar
from shopfloor.services.options import DemoOptions

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from shopfloor.services.demo import DemoResult

__all__ = ["demo"]


class _Printer:
    """Prints the demo's steps, one progress bar per phase (none when headless)."""

    def __init__(self, *, headless: bool) -> None:
        self.headless = headless
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""

    def section(self, title: str) -> None:
        console.rule(f"[bold]{title}")

    def step(self, text: str) -> None:
        console.print(text)

    def phase(self, label: str, total: float) -> None:
        from rich.progress import TextColumn

        self._label = label
        if self.headless:
            return
        self._bar = progress_bar(TextColumn("{task.fields[info]}"))
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, info="")

    def progress(self, done: float, info: str, *, alarm: bool = False) -> None:
        if self._bar is not None and self._task is not None:
            text = info + (", [red]ALARM[/]" if alarm else "")
            shown: dict[str, Any] = {"info": text} if info else {}
            self._bar.update(self._task, completed=done, **shown)

    def phase_done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.headless and self._label:
            console.print(f"{self._label}: done")
        self._bar = self._task = None
        self._label = ""


def _print_summary(result: DemoResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.rule("[bold]summary")
    header, *rows = result.table()
    table = Table(*header, show_lines=False, highlight=False)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print("use case 1: " + "\n  ".join(["", *result.cnc.details()]), highlight=False)
    console.print("use case 2: " + "\n  ".join(["", *result.packaging.details()]), highlight=False)
    console.print("reuse: " + "\n  ".join(["", *result.reuse.lines()]), highlight=False)
    for outcome in result.outcomes():
        for check in outcome.checks if outcome.available else outcome.failed():
            mark = "[green]PASS[/]" if check.ok else "[red]FAIL[/]"
            console.print(f"{mark} {outcome.title}: {check.name}: {escape(check.seen)}")
    folder = result.project.root
    print_summary(
        [
            f"done in {result.seconds:.0f} s. Look around: shopfloor deployments list -p "
            f"{folder}; shopfloor alerts list -p {folder}; shopfloor events -p {folder} "
            "--kind classified"
        ]
    )


@options_of(DemoOptions)
def demo(
    options: DemoOptions,
    headless: Annotated[
        bool, typer.Option(help="No progress bars; exit 0 only if both use cases met their checks.")
    ] = False,
) -> None:
    """Run both use cases end to end on the embedded store and bus, and say what they did."""
    from shopfloor.services.demo import MODEL, prepare_demo, run_demo

    folder = options.folder
    setup = checked(prepare_demo, options)
    project = setup.project
    console.rule("[bold]shopfloor demo: two use cases on one platform")
    console.print(
        f"project [bold]{project.config.project.name}[/] in {folder}/: "
        f"{len(project.config.assets)} assets, "
        f"{sum(len(a.signals) for a in project.config.assets)} signals, "
        f"{len(project.config.connectors)} connectors; model {MODEL!r} (vibration) and "
        "an image classifier"
    )
    printer = _Printer(headless=headless)
    try:
        from shopfloor.api.server import api_server_factory
        from shopfloor.studio import studio_factory

        # the embedded demo listens on 127.0.0.1 only: its Studio needs no login
        api = api_server_factory(
            project, port=0, studio=studio_factory(project), local_user="local"
        )
        result = run_async(lambda: run_demo(options, setup, printer, api))
    finally:
        printer.phase_done()
    _print_summary(result)
    if not result.ok:
        raise typer.Exit(1)
