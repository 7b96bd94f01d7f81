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
