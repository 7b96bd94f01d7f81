"""``shopfloor sim``: simulated machines on loopback, for tests, benchmarks and the demo."""

from __future__ import annotations

import typer

from shopfloor.sim.cnc.command import cnc

__all__ = ["app"]

app = typer.Typer(
    help="Run simulated machines (real industrial protocols on loopback).",
    no_args_is_help=True,
)


@app.callback()
def sim() -> None:
    """Run simulated machines (real industrial protocols on loopback)."""


app.command("cnc")(cnc)
