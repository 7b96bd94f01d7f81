"""`shopfloor sim cnc` reports errors as every other command does: `error: ...`."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from shopfloor.cli.main import app


def test_port_in_use_is_a_lowercase_error_naming_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["sim", "cnc", "--port", str(port), "--duration", "1s", "--quiet"]
        )
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and str(port) in result.output
    assert "Error:" not in result.output


def test_sim_modbus_serves_until_its_duration_and_refuses_a_bad_one() -> None:
    result = CliRunner().invoke(app, ["sim", "modbus", "--port", "0", "--duration", "0.2s"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("READY 127.0.0.1:")
    bad = CliRunner().invoke(app, ["sim", "modbus", "--duration", "soon"])
    assert bad.exit_code == 2 and "--duration" in bad.output
