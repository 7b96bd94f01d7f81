"""``shopfloor demo``: the main job, on the embedded default (DuckDB, in-process bus).

:mod:`shopfloor.services.demo` runs it; this command shows its progress and what it did.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from shopfloor.cli.common import checked, run_async
from shopfloor.cli.options import options_of
from shopfloor.cli.output import console, print_summary, progress_bar
from shopfloor.services.options import DemoOptions

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["demo"]


class _Printer:
    """Prints the demo's steps, one progress bar per phase."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def step(self, text: str) -> None:
        console.print(text)

    def phase(self, label: str, total_s: float) -> None:
        from rich.progress import TextColumn

        self._bar = progress_bar(TextColumn("{task.fields[info]}"))
        self._bar.start()
        self._task = self._bar.add_task(label, total=total_s, info="")

    def progress(self, done_s: float, info: str, *, alarm: bool = False) -> None:
        if self._bar is not None and self._task is not None:
            text = info + (", [red]ALARM[/]" if alarm else "")
            shown: dict[str, Any] = {"info": text} if info else {}
            self._bar.update(self._task, completed=done_s, **shown)

    def phase_done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = self._task = None


@options_of(DemoOptions)
def demo(options: DemoOptions) -> None:
    """Run the main job end to end on the embedded store and bus, and say what it did."""
    from shopfloor.services.demo import MODEL, PIPELINE, prepare_demo, run_demo

    started = time.perf_counter()
    folder = options.folder
    project, port = checked(prepare_demo, options)
    console.rule("[bold]shopfloor demo: train, deploy and alert on a CNC spindle")
    console.print(
        f"project [bold]{project.config.project.name}[/] in {folder}/, "
        f"{sum(len(a.signals) for a in project.config.assets)} signals, "
        f"model {MODEL!r} on the features of pipeline {PIPELINE!r}"
    )
    printer = _Printer()
    try:
        from shopfloor.api.server import api_server_factory
        from shopfloor.studio import studio_factory

        # the embedded demo listens on 127.0.0.1 only: its Studio needs no login
        api = api_server_factory(
            project, port=0, studio=studio_factory(project), local_user="local"
        )
        result = run_async(lambda: run_demo(options, project, port, printer, api))
    finally:
        printer.phase_done()
    console.print(result.stored())
    console.rule("[bold]summary")
    *lines, done = result.summary(folder, time.perf_counter() - started)
    console.print(*lines, sep="\n", highlight=False)
    print_summary([done])
    if not result.true_alarms:
        raise typer.Exit(1)
