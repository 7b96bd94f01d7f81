"""``shopfloor deploy``, ``deployments``, ``rollback`` while the platform is stopped."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from shopfloor.cli.main import app
from tests.runtime.test_deployments import M1, M3, Plant, plant

__all__ = ["plant"]  # the fixture, shared with the runtime's tests


def test_deploy_list_show_rollback_stop(plant: Plant) -> None:
    runner = CliRunner()
    p = ["-p", str(plant.folder)]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, *p])
        assert result.exit_code == code, result.output
        return result.output

    rows = json.loads(run("deploy", "vib@1", "--mode", "active", "--name", "cli", "--json"))
    assert rows[0]["change"]["action"] == "deploy" and rows[0]["asset"] == M1
    out = run("deploy", "vib@2", "--mode", "active", "--name", "cli", "-m", "retrained")
    assert "swap: cli on" in out and "(was vib@1)" in out
    assert "already runs" in run("deploy", "vib@2", "--mode", "active", "--name", "cli")
    listed = json.loads(run("deployments", "list", "--json"))
    assert [(r["name"], r["ref"], r["mode"]) for r in listed] == [("cli", "vib@2", "active")]
    shown = json.loads(run("deployments", "show", "cli", "--json"))
    assert [c["action"] for c in shown["log"]] == ["swap", "deploy"]
    assert shown["log"][0]["reason"] == "retrained"
    assert "rollback: cli" in run("rollback", M1, "--by", "ana")
    assert "no earlier version" in run("rollback", M1, code=1)
    assert "give the deployments" in run("deployments", "compare", M1, code=1)
    assert "stop: cli" in run("deployments", "stop", "cli")
    assert json.loads(run("deployments", "list", "--json")) == []
    assert len(json.loads(run("deployments", "list", "--all", "--json"))) == 1


def test_refusals_and_bad_options_exit_non_zero(plant: Plant) -> None:
    runner = CliRunner()
    p = ["-p", str(plant.folder)]
    result = runner.invoke(app, ["deploy", "vib@1", "--asset", M3, *p])
    assert result.exit_code == 1 and "cannot run on" in result.output
    result = runner.invoke(app, ["deploy", "vib@1", "--mode", "loud", *p])
    assert result.exit_code == 2 and "--mode" in result.output
    result = runner.invoke(app, ["deploy", "ghost@1", *p])
    assert result.exit_code == 1 and "ghost" in result.output
    result = runner.invoke(app, ["deployments", "show", "nobody", *p])
    assert result.exit_code == 1 and "no deployment 'nobody'" in result.output
