"""``shopfloor sim cnc`` through typer's CliRunner: a short run, and option errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopfloor.cli.sim import app

runner = CliRunner()


@pytest.mark.integration
def test_short_run_prints_ready_summary_progress_and_exits_0(tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    result = runner.invoke(
        app,
        ["cnc", "--port", "0", "--duration", "1.5s", "--progress-every", "0.5s",
         "--fault", "ball", "--fault-at", "10s", "--ground-truth", str(truth), "--seed", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("READY opc.tcp://127.0.0.1:")
    assert f"ground_truth={truth}" in lines[0]
    assert "ns=2;s=CNC01.Vibration.AccelX" in result.stdout  # node list
    assert "fault ball severity 0.00" in result.stdout  # progress, before the onset
    assert "stopped:" in lines[-1]
    assert json.loads(truth.read_text())["seed"] == 4


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--fault-at", "banana"], "--fault-at"),
        (["--fault-growth", "soon"], "--fault-growth"),
        (["--fault", "cracked"], "--fault"),
        (["--security", "paranoid"], "--security"),
        (["--port", "70000"], "--port"),
        (["--sample-rate", "1000.5"], "--sample-rate"),
        (["--time-scale", "0"], "--time-scale"),
        (["--machine-name", "9 lives"], "--machine-name"),
        (["--duration", "forever"], "--duration"),
        (["--sensor-fault", "Spindle.Temperature"], "--sensor-fault"),
        (["--sensor-fault", "Nope@1s+1s"], "--sensor-fault"),
        (["--start-time", "yesterday-ish"], "--start-time"),
    ],
)
def test_bad_options_exit_2_naming_the_option(args: list[str], option: str) -> None:
    result = runner.invoke(app, ["cnc", *args])
    assert result.exit_code == 2
    assert option in result.output


@pytest.mark.integration
def test_port_in_use_exits_2_with_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["cnc", "--port", str(port), "--duration", "1s", "--quiet"])
    assert result.exit_code == 2
    assert str(port) in result.output


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["cnc", "--help"])
    assert result.exit_code == 0
    for option in ("--fault-at", "--security", "--pki-dir", "--ground-truth", "--sample-rate"):
        assert option in result.output
