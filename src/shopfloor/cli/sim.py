"""``shopfloor sim``: simulated machines on loopback, for tests, benchmarks and the demo."""

from __future__ import annotations

from shopfloor.cli.lazy import group_app
from shopfloor.sim.cnc.command import cnc

__all__ = ["app"]

app = group_app("sim")


@app.callback()
def sim() -> None:  # a group even with one command: `sim cnc`
    pass


app.command("cnc")(cnc)
