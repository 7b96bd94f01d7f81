"""``shopfloor sim``: simulated machines on loopback, for tests, benchmarks and the demo."""

from __future__ import annotations

from typing import Annotated

import typer

from shopfloor.cli.lazy import group_app
from shopfloor.sim.cnc.command import cnc
from shopfloor.sim.packaging.command import packaging

__all__ = ["app"]

app = group_app("sim")


@app.callback()
def sim() -> None:  # a group: `sim cnc`, `sim packaging`
    pass


app.command("cnc")(cnc)
app.command("packaging")(packaging)


@app.command("modbus")
def modbus(
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 5020,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (10s, 5min); default: run on.")
    ] = None,
) -> None:
    """A simulated Modbus TCP device: a small line's state in a few live registers.

    Prints ``READY host:port`` once it listens. Every unit id answers; the live registers
    are listed in docs/connectors.md ("Scan a device") and in ``shopfloor.sim.modbus``.
    """
    import asyncio

    from shopfloor.cli.common import checked, run_async
    from shopfloor.errors import ConfigError
    from shopfloor.model import parse_duration_s
    from shopfloor.sim.modbus import ModbusSimConfig, ModbusSimServer

    def seconds() -> float | None:
        try:
            return None if duration is None else parse_duration_s(duration)
        except ValueError as err:
            raise ConfigError(f"--duration: {err}") from err

    run_for = checked(seconds)

    async def serve() -> None:
        async with ModbusSimServer(ModbusSimConfig(host=host, port=port)) as device:
            typer.echo(f"READY {host}:{device.port}")
            if run_for is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(run_for)

    run_async(serve)
