"""``shopfloor alerts``: list, show, ack, resolve, shelve and feedback, also as JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.config import load_project
from shopfloor.model.alert import raise_alert
from shopfloor.store import DuckDBStore

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
S = 1_000_000_000


@pytest.fixture
def alert_ids(project: Path) -> list[int]:
    async def seed() -> list[int]:
        store = DuckDBStore(load_project(project, build_pipelines=False).store_path)
        await store.open()
        ids = []
        try:
            for k, rule in enumerate(("spindle-hot", "load-jump")):
                alert, change = raise_alert(
                    None,
                    rule=rule,
                    asset=ASSET,
                    severity="alarm",
                    message=f"{rule}!",
                    at_ns=1_700_000_000 * S + k * S,
                    signal="spindle_temperature",
                    value=91.0,
                )
                ids.append((await store.save_alert(alert, [change])).id or 0)
        finally:
            await store.close()
        return ids

    return asyncio.run(seed())


def run(runner: CliRunner, project: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["alerts", *args, "-p", str(project)])
    return result.exit_code, result.output


def test_list_ack_show_and_resolve(project: Path, runner: CliRunner, alert_ids: list[int]) -> None:
    code, out = run(runner, project, "list", "--json")
    assert code == 0
    assert [a["rule"] for a in json.loads(out)] == ["load-jump", "spindle-hot"]
    hot = alert_ids[0]
    code, out = run(runner, project, "ack", str(hot), "-m", "on it", "--by", "ana", "--json")
    assert code == 0, out
    acked = json.loads(out)
    assert acked["state"] == "acknowledged" and acked["change"]["who"] == "ana"
    code, out = run(runner, project, "list", "--state", "open", "--json")
    assert [a["rule"] for a in json.loads(out)] == ["load-jump"]
    code, out = run(runner, project, "shelve", str(hot), "--for", "2h", "--by", "ana")
    assert code == 0 and "shelved until" in out
    code, out = run(runner, project, "resolve", str(hot), "--by", "bo")
    assert code == 0 and "now resolved" in out
    code, out = run(runner, project, "show", str(hot), "--json")
    history = json.loads(out)["history"]
    assert [(h["action"], h["who"]) for h in history] == [
        ("raised", "system"),
        ("acknowledged", "ana"),
        ("shelved", "ana"),
        ("resolved", "bo"),
    ]
    code, out = run(runner, project, "show", str(hot))
    assert code == 0 and "rule: spindle-hot" in out and "history" in out
    code, out = run(runner, project, "ack", str(hot))
    assert code == 1 and f"alert {hot}" in out and "resolved" in out
    code, out = run(runner, project, "list")
    assert code == 0 and "load-jump" in out and "spindle-hot" not in out


def test_feedback_becomes_a_label(project: Path, runner: CliRunner, alert_ids: list[int]) -> None:
    code, out = run(
        runner,
        project,
        "feedback",
        str(alert_ids[1]),
        "confirmed",
        "--fault",
        "tool_wear",
        "-m",
        "worn insert",
        "--by",
        "ana",
        "--json",
    )
    assert code == 0, out
    result = json.loads(out)
    assert result["verdict"] == "confirmed" and result["label"]["label"] == "fault:tool_wear"
    assert result["label_id"] == result["label"]["id"]
    code, out = run(runner, project, "feedback", str(alert_ids[0]), "false_alarm")
    assert code == 0 and "labelled healthy" in out
    code, out = run(runner, project, "feedback", str(alert_ids[0]), "maybe")
    assert code == 2 and "confirmed or false_alarm" in out


def test_a_bad_id_names_it(project: Path, runner: CliRunner, alert_ids: list[int]) -> None:
    code, out = run(runner, project, "ack", "4242")
    assert code != 0 and "no alert 4242" in out
    code, out = run(runner, project, "show", "4242", "--json")
    assert code != 0 and "4242" in out
    code, out = run(runner, project, "list", "--state", "weird")
    assert code == 2 and "--state must be one of" in out
