"""``shopfloor sim``: simulated machines on loopback, for tests, benchmarks and the demo."""

from __future__ import annotations

from shopfloor.cli.lazy import group_app
from shopfloor.sim.cnc.command import cnc
from shopfloor.sim.modbus_command import modbus
from shopfloor.sim.packaging.command import packaging

__all__ = ["app"]

app = group_app("sim")


@app.callback()
def sim() -> None:  # a group: `sim cnc`, `sim packaging`, `sim modbus`
    pass


app.command("cnc")(cnc)
app.command("packaging")(packaging)
app.command("modbus")(modbus)
