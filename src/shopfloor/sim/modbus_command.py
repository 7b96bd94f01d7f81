"""The ``modbus`` command: the simulated Modbus TCP device (``shopfloor sim modbus``)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["modbus"]


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

    from shopfloor.errors import ShopfloorError
    from shopfloor.model import parse_duration_s
    from shopfloor.sim.modbus import ModbusSimConfig, ModbusSimServer

    try:
        run_for = None if duration is None else parse_duration_s(duration)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--duration") from err

    async def serve() -> None:
        async with ModbusSimServer(ModbusSimConfig(host=host, port=port)) as device:
            typer.echo(f"READY {host}:{device.port}")
            if run_for is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(run_for)

    try:
        asyncio.run(serve())
    except ShopfloorError as err:  # a port in use, a bad address
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
