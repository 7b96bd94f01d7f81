"""``shopfloor sim``: simulated machines on loopback, for tests, benchmarks and the demo."""

from __future__ import annotations

from typing import Annotated

import typer

from shopfloor.cli.lazy import group_app
from shopfloor.sim.cnc.command import cnc
from shopfloor.sim.modbus_command import modbus
from shopfloor.sim.packaging.command import packaging

__all__ = ["app"]

app = group_app("sim")


@app.callback()
def sim() -> None:  # a group: `sim cnc`, `sim packaging`, `sim modbus`, `sim sparkplug`
    pass


app.command("cnc")(cnc)
app.command("packaging")(packaging)
app.command("modbus")(modbus)


@app.command("sparkplug")
def sparkplug(
    broker: Annotated[str, typer.Option(help="MQTT broker, HOST[:PORT].")] = "127.0.0.1:1883",
    group: Annotated[str, typer.Option(help="Sparkplug group id.")] = "Line1",
    edge_node: Annotated[str, typer.Option(help="Edge node id.")] = "press-gw",
    period: Annotated[float, typer.Option(help="Seconds between data messages.", min=0.01)] = 1.0,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (10s, 5min); default: run on.")
    ] = None,
) -> None:
    """A simulated Sparkplug B edge node (a press with one device) publishing to a broker.

    Births, data by alias and sequence numbers as a real edge node sends them; it answers
    rebirth requests. Prints ``READY`` once connected; ends with an NDEATH.
    """
    import asyncio

    from shopfloor.cli.common import checked, run_async
    from shopfloor.connectors.sparkplug.simcodec import TahuCodec
    from shopfloor.model import parse_duration_s
    from shopfloor.services.addresses import split_host_port
    from shopfloor.sim.sparkplug import EdgeNodeSim, EdgeNodeSimConfig

    host, port = checked(split_host_port, broker, default_port=1883, what="--broker")
    try:
        run_for = None if duration is None else parse_duration_s(duration)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--duration") from err
    config = EdgeNodeSimConfig(
        port=port, host=host, group=group, edge_node=edge_node, period_s=period
    )

    async def main() -> None:
        node = EdgeNodeSim(config, TahuCodec())
        async with node:
            try:
                await asyncio.wait_for(node.connected.wait(), timeout=10)
            except TimeoutError:
                typer.echo(f"cannot reach the broker at {host}:{port}", err=True)
                raise typer.Exit(1) from None
            typer.echo(f"READY spBv1.0/{group}/+/{edge_node}")
            await (asyncio.Event().wait() if run_for is None else asyncio.sleep(run_for))
            await node.die()

    run_async(main)
