"""`--security` and `security_mode` take both spellings, in any case, in both places."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.connectors.opcua.config import OpcUaConfig


@pytest.mark.parametrize(
    ("given", "mode"),
    [
        ("none", "None"),
        ("None", "None"),
        ("SIGN", "Sign"),
        ("encrypt", "SignAndEncrypt"),
        ("SignAndEncrypt", "SignAndEncrypt"),
        ("signandencrypt", "SignAndEncrypt"),
    ],
)
def test_yaml_accepts_both_spellings(given: str, mode: str) -> None:
    config = OpcUaConfig(name="cnc", endpoint="opc.tcp://127.0.0.1:4840", security_mode=given)
    assert config.security_mode == mode


def test_cli_refuses_an_unknown_mode_naming_both_spellings(
    project: Path, runner: CliRunner
) -> None:
    result = runner.invoke(
        app,
        [
            "opcua",
            "browse",
            "opc.tcp://127.0.0.1:4840",
            "--security",
            "Basic128",
            "-p",
            str(project),
        ],
    )
    assert result.exit_code == 2
    assert "'Basic128'" in result.output and "SignAndEncrypt" in result.output


def test_cli_accepts_the_yaml_spelling(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "opcua",
            "browse",
            "opc.tcp://127.0.0.1:9",
            "--security",
            "None",
            "--timeout",
            "0.5",
            "-p",
            str(project),
        ],
    )
    assert "--security" not in result.output
    assert result.exit_code == 1, result.output  # nothing listens on port 9
