"""The ``packaging`` command: options → :class:`PackagingSimConfig` → :func:`runner.run_line`.

``shopfloor sim packaging`` (mounted by ``shopfloor.cli.sim``) and ``python -m
shopfloor.sim.packaging`` (for subprocess tests). Bad options exit with status 2 and a
message naming the option; ``--duration`` or ``--parts`` end, Ctrl-C and SIGTERM exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from shopfloor.model import parse_duration_s
from shopfloor.sim.packaging.line import PackagingSimConfig

__all__ = ["main", "packaging"]

_OPTION_OF_FIELD = {
    "seed": "--seed",
    "speed_parts_s": "--speed",
    "size": "--size",
    "image_format": "--format",
    "defect_rates": "--rates",
    "position_jitter": "--position-jitter",
    "rotation_deg": "--rotation",
    "noise": "--noise",
}


def _rates(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    rates: dict[str, float] = {}
    for item in text.split(","):
        name, sep, share = item.partition("=")
        try:
            rates[name.strip()] = float(share)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(
                f"{item!r} is not CLASS=SHARE (e.g. good=0.9,dented=0.1)", param_hint="--rates"
            )
    return rates


def build_config(options: dict[str, Any]) -> PackagingSimConfig:
    """Validate ``options``; ``typer.BadParameter`` naming the option when one is wrong."""
    try:
        return PackagingSimConfig.model_validate(
            {k: v for k, v in options.items() if v is not None}
        )
    except ValidationError as err:
        first = err.errors()[0]
        hint = _OPTION_OF_FIELD.get(str(first["loc"][0]) if first["loc"] else "", "options")
        raise typer.BadParameter(
            first["msg"].removeprefix("Value error, "), param_hint=hint
        ) from err


def packaging(
    folder: Annotated[
        Path, typer.Option(help="Hot folder the camera writes to (made when missing).")
    ] = Path("camera"),
    speed: Annotated[float, typer.Option(help="Line speed in parts per second.")] = 5.0,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same parts.")] = 1,
    size: Annotated[int, typer.Option(help="Image width and height in pixels.")] = 128,
    format_: Annotated[str, typer.Option("--format", help="png or jpeg.")] = "png",
    rates: Annotated[
        str | None,
        typer.Option(help="Class shares, e.g. good=0.9,dented=0.05,torn_seal=0.05."),
    ] = None,
    noise: Annotated[float | None, typer.Option(help="Sensor noise (0-1 intensity).")] = None,
    partial_writes: Annotated[
        bool, typer.Option(help="Write each image in two halves, as a slow upload does.")
    ] = False,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (10s, 5min); default: run on.")
    ] = None,
    parts: Annotated[int | None, typer.Option(min=1, help="Stop after this many parts.")] = None,
    modbus_port: Annotated[
        int | None,
        typer.Option(help="Serve line state and the reject gate over Modbus TCP (0: a free port)."),
    ] = None,
    mqtt_broker: Annotated[
        str | None,
        typer.Option(help="Publish the images to this MQTT broker (HOST:PORT), not the folder."),
    ] = None,
    mqtt_topic: Annotated[
        str, typer.Option(help="Topic of each image; {line} and {part_id} are filled in.")
    ] = "packaging/{line}/camera",
    mqtt_header: Annotated[
        bool, typer.Option(help="Put a JSON header (part_id, ts) before each image.")
    ] = True,
) -> None:
    """Run a simulated packaging line: carton images with defects into a hot folder.

    With --mqtt-broker the camera publishes each image (QoS 1) instead, with its part id
    in a JSON header line and/or the topic. Ground truth goes to FOLDER-labels.csv next
    to the folder (file or part id, class, time); the counts are printed as JSON at the end.
    """
    config = build_config(
        {
            "seed": seed,
            "speed_parts_s": speed,
            "size": size,
            "image_format": format_,
            "defect_rates": _rates(rates),
            "noise": noise,
        }
    )
    try:
        duration_s = None if duration is None else parse_duration_s(duration)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--duration") from err
    from shopfloor.sim.packaging.line import PackagingLine, PartWriter
    from shopfloor.sim.packaging.plc import PackagingPlc
    from shopfloor.sim.packaging.publish import MqttCamera, check_topic, split_broker
    from shopfloor.sim.packaging.runner import run_line

    broker: tuple[str, int] | None = None
    if mqtt_broker is not None:
        try:
            broker = split_broker(mqtt_broker)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--mqtt-broker") from err
        try:
            check_topic(mqtt_topic)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--mqtt-topic") from err

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        line = PackagingLine(config)
        async with contextlib.AsyncExitStack() as stack:
            writer: PartWriter | None = None
            where = str(folder)
            if broker is not None:
                labels = folder.parent / f"{folder.name}-labels.csv"
                camera = MqttCamera(
                    *broker, mqtt_topic, labels, line_name=config.line_name, header=mqtt_header
                )
                writer = await stack.enter_async_context(camera)
                where = f"mqtt://{broker[0]}:{broker[1]}/{mqtt_topic}"

            async def produce(plc: PackagingPlc | None = None) -> None:
                await run_line(
                    config,
                    folder,
                    duration_s=duration_s,
                    parts=parts,
                    partial=partial_writes,
                    stop=stop,
                    line=line,
                    plc=plc,
                    writer=writer,
                )

            if modbus_port is None:
                typer.echo(
                    f"READY packaging line writing to {where} at {speed:g} parts/s", err=True
                )
                await produce()
                return line.counts.as_dict()
            async with PackagingPlc(line, port=modbus_port) as plc:
                typer.echo(
                    f"READY packaging line writing to {where} at {speed:g} parts/s; PLC on "
                    f"modbus://127.0.0.1:{plc.port}",
                    err=True,
                )
                await produce(plc)
            return {**line.counts.as_dict(), "unknown_rejects": plc.unknown_rejects}

    typer.echo(json.dumps(asyncio.run(main())))


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m shopfloor.sim.packaging``."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(packaging)
    app(args=argv, prog_name="python -m shopfloor.sim.packaging")
