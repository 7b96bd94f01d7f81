from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shopfloor.cli.main import app


def test_init_then_validate(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", "-p", str(tmp_path / "new"), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["valid"] and summary["signals"] == 7
    again = runner.invoke(app, ["init", str(tmp_path / "new")])
    assert again.exit_code == 2 and "--force" in again.output


def test_validate_reports_every_problem_with_exit_2(project: Path, runner: CliRunner) -> None:
    text = (project / "factory.yaml").read_text()
    (project / "factory.yaml").write_text(
        text.replace("unit: rpm", "unit: rpmm").replace("kind: event", "kind: evnt")
    )
    result = runner.invoke(app, ["validate", "-p", str(project), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert not report["valid"] and len(report["issues"]) == 2
    assert all("factory.yaml:" in i for i in report["issues"])


def test_status_of_a_stopped_platform(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["status", "-p", str(project), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["running"] is False


def test_version_and_help(runner: CliRunner) -> None:
    assert "shopfloor" in runner.invoke(app, ["--version"]).output
    result = runner.invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0 and "--time-column" in result.output
