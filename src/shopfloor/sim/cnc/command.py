"""The ``cnc`` command: options → :class:`CncSimConfig` → :func:`runner.serve`.

One definition serves both entry points: ``shopfloor sim cnc`` (mounted by
``shopfloor.cli.sim``) and ``python -m shopfloor.sim.cnc`` (for subprocess tests, where
``shopfloor.sim`` may not import ``shopfloor.cli``). Bad options exit with status 2 and a
message naming the option; ``--duration`` end, Ctrl-C and SIGTERM exit with 0.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from shopfloor.errors import ConfigError
from shopfloor.model import parse_duration_s, parse_time
from shopfloor.sim.cnc.config import (
    CncSimConfig,
    FaultType,
    GrowthModel,
    SecurityMode,
)

__all__ = ["build_config", "cnc", "main"]

_OPTION_OF_FIELD = {
    ("port",): "--port",
    ("host",): "--host",
    ("seed",): "--seed",
    ("machine_name",): "--machine-name",
    ("sample_rate_hz",): "--sample-rate",
    ("block_duration_s",): "--block-duration",
    ("scalar_rate_hz",): "--scalar-rate",
    ("time_scale",): "--time-scale",
    ("start_time",): "--start-time",
    ("fault", "type"): "--fault",
    ("fault", "onset"): "--fault-at",
    ("fault", "growth_s"): "--fault-growth",
    ("fault", "growth"): "--growth-model",
    ("security",): "--security",
    ("pki_dir",): "--pki-dir",
    ("trust_dir",): "--trust-dir",
    ("history_period_s",): "--history-period",
    ("ground_truth_path",): "--ground-truth",
    ("writes_log_path",): "--writes-log",
    ("sensor_faults",): "--sensor-fault",
}
_SENSOR_FAULT = re.compile(
    r"^(?P<signal>[^@]+)@(?P<start>.+)\+(?P<duration>[^+=]+)(?:=(?P<status>\w+))?$"
)


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint=option) from err


def _sensor_fault(text: str) -> dict[str, Any]:
    match = _SENSOR_FAULT.fullmatch(text.strip())
    if not match:
        raise typer.BadParameter(
            f"{text!r} is not SIGNAL@START+DURATION[=STATUS], "
            "e.g. Spindle.Temperature@60s+30s=BadSensorFailure",
            param_hint="--sensor-fault",
        )
    fault: dict[str, Any] = {
        "signal": match["signal"],
        "start": match["start"],
        "duration_s": _duration(match["duration"], "--sensor-fault"),
    }
    if match["status"]:
        fault["status"] = match["status"]
    return fault


def build_config(options: dict[str, Any]) -> CncSimConfig:
    """Validate ``options`` (CncSimConfig fields) and name the option when one is wrong.

    Raises
    ------
    typer.BadParameter
        With ``param_hint`` set to the command-line option (exit status 2).
    """
    try:
        return CncSimConfig.model_validate(options)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(str(part) for part in first["loc"])
        hint = None
        for length in range(len(loc), 0, -1):
            hint = _OPTION_OF_FIELD.get(loc[:length])
            if hint:
                break
        message = first["msg"].removeprefix("Value error, ")
        if hint is None:
            hint = "--sample-rate" if "sample_rate" in message else "options"
        raise typer.BadParameter(message, param_hint=hint) from err


def cnc(
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 4840,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed: same seed, same data.")] = 1,
    fault: Annotated[FaultType, typer.Option(help="Bearing fault to inject.")] = FaultType.NONE,
    fault_at: Annotated[
        str, typer.Option(help="Fault onset: after start (120s, 5min) or UTC (ISO 8601).")
    ] = "120s",
    fault_growth: Annotated[
        str, typer.Option(help="Time for the fault to reach full severity.")
    ] = "600s",
    growth_model: Annotated[
        GrowthModel, typer.Option(help="Severity growth law.")
    ] = GrowthModel.EXPONENTIAL,
    security: Annotated[
        SecurityMode, typer.Option(help="Basic256Sha256 Sign / SignAndEncrypt, or none.")
    ] = SecurityMode.NONE,
    allow_none_security: Annotated[
        bool, typer.Option(help="With --security sign/encrypt, also offer None.")
    ] = False,
    pki_dir: Annotated[
        Path, typer.Option(help="Server key and certificate (made on first use).")
    ] = Path(".shopfloor/sim-pki"),
    trust_dir: Annotated[
        Path | None, typer.Option(help="Trusted client certificates; default trusts all.")
    ] = None,
    ground_truth: Annotated[
        Path | None, typer.Option(help="Write the ground truth JSON here.")
    ] = None,
    writes_log: Annotated[
        Path | None, typer.Option(help="Append received writes (JSON lines) here.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (10s, 5min); default: run on.")
    ] = None,
    sample_rate: Annotated[float, typer.Option(help="Accelerometer rate in Hz.")] = 25600.0,
    block_duration: Annotated[float, typer.Option(help="Vibration block in seconds.")] = 1.0,
    scalar_rate: Annotated[float, typer.Option(help="Scalar updates per second.")] = 10.0,
    time_scale: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 1.0,
    start_time: Annotated[
        str | None, typer.Option(help="Machine start (UTC), anchor of --fault-at offsets.")
    ] = None,
    machine_name: Annotated[str, typer.Option(help="Node id prefix.")] = "CNC01",
    history: Annotated[bool, typer.Option(help="Keep in-memory history.")] = True,
    history_period: Annotated[str, typer.Option(help="Scalar history kept.")] = "10min",
    sensor_fault: Annotated[
        list[str] | None,
        typer.Option(
            help="SIGNAL@START+DURATION[=STATUS], e.g. Spindle.Temperature@60s+30s. Repeatable."
        ),
    ] = None,
    progress_every: Annotated[str, typer.Option(help="Progress line interval.")] = "10s",
    quiet: Annotated[bool, typer.Option(help="Print only the READY line.")] = False,
) -> None:
    """Run a simulated CNC machining centre as an OPC UA server."""
    options: dict[str, Any] = {
        "port": port,
        "host": host,
        "seed": seed,
        "machine_name": machine_name,
        "sample_rate_hz": sample_rate,
        "block_duration_s": block_duration,
        "scalar_rate_hz": scalar_rate,
        "time_scale": time_scale,
        "fault": {
            "type": fault,
            "onset": fault_at,
            "growth_s": _duration(fault_growth, "--fault-growth"),
            "growth": growth_model,
        },
        "security": security,
        "security_allow_none": allow_none_security,
        "pki_dir": pki_dir,
        "trust_dir": trust_dir,
        "history": history,
        "history_period_s": _duration(history_period, "--history-period"),
        "ground_truth_path": ground_truth,
        "writes_log_path": writes_log,
        "sensor_faults": [_sensor_fault(text) for text in sensor_fault or []],
    }
    if start_time is not None:
        try:
            options["start_time"] = parse_time(start_time)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--start-time") from err
    config = build_config(options)
    duration_s = None if duration is None else _duration(duration, "--duration")
    every_s = _duration(progress_every, "--progress-every")
    from shopfloor.sim.cnc.runner import serve  # imports asyncua

    try:
        asyncio.run(serve(config, duration_s=duration_s, progress_every_s=every_s, quiet=quiet))
    except ConfigError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m shopfloor.sim.cnc``."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(cnc)
    app(args=argv, prog_name="python -m shopfloor.sim.cnc")
