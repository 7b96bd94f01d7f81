"""Train, register, score in a new process, evaluate, stage, export; labels; tampering."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shopfloor
from shopfloor.cli.main import app
from shopfloor.config import load_project
from shopfloor.errors import ModelError
from shopfloor.ml.config import ModelConfig, TrainingWindow
from shopfloor.model import format_ns
from shopfloor.services.models import score_model, train_model
from shopfloor.services.options import ScoreOptions, TrainOptions
from shopfloor.store import DuckDBStore

from ..pipelines.data import ASSET, START, machine_data

PROJECT = f"""
project: {{name: test-plant}}
assets:
  - path: {ASSET}
    bearing: {{n_elements: 18, element_diameter_mm: 7.14, pitch_diameter_mm: 46.0,
               contact_angle_deg: 15}}
    signals:
      - {{name: spindle_accel, kind: waveform, unit: g, sample_rate_hz: 25600,
          channels: [x, y, z]}}
      - {{name: spindle_speed, unit: rpm}}
      - {{name: program_state}}
pipelines:
  - name: spindle-features
    asset: {ASSET}
    sources: [spindle_accel]
    context: [spindle_speed]
    window: {{length_s: 0.25}}
    when: {{signal: spindle_speed, between: [1000, 20000]}}
    steps:
      - features: {{features: [rms, kurtosis]}}
"""

SECONDS = 60.0


def at(s: float) -> str:
    return format_ns(START + int(s * 1e9))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s of a spindle: 23 s steady at 8000 rpm, then other speeds, a fault from 30 s."""
    folder = tmp_path_factory.mktemp("models") / "plant"
    folder.mkdir()
    (folder / "factory.yaml").write_text(PROJECT)
    project = load_project(folder)

    async def fill() -> None:
        blocks, scalars = machine_data(SECONDS, fault="outer_race", onset_s=30.0)
        async with DuckDBStore(project.store_path) as store:
            for asset in project.config.assets:
                await store.register_signals(asset.path, asset.signals)
            await store.write([*blocks, *scalars])

    asyncio.run(fill())
    return folder


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``shopfloor ARGS -p FOLDER`` in a new process."""
    env = {**os.environ, "PYTHONPATH": str(Path(shopfloor.__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "shopfloor.cli.main", *args, "-p", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_trained_model_scores_identically_in_a_new_process(folder: Path) -> None:
    runner = CliRunner()
    p = ["-p", str(folder)]
    result = runner.invoke(
        app,
        [
            "labels",
            "add",
            "--asset",
            ASSET,
            "--label",
            "ignore",
            "--from",
            at(4),
            "--to",
            at(6),
            "--comment",
            "sensor re-seated",
            "--json",
            *p,
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["label"] == "ignore"
    result = runner.invoke(
        app,
        [
            "train",
            "--name",
            "spindle",
            "--pipeline",
            "spindle-features",
            "--from",
            at(0),
            "--to",
            at(22),
            "--model",
            "robust_zscore",
            "--split",
            "0.6,0.4",
            "--json",
            *p,
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert (card["name"], card["version"], card["stage"]) == ("spindle", 1, "none")
    assert card["dataset"]["ignored_windows"] >= 2  # the ignore label dropped windows
    assert card["split"]["by"] == "time" and card["calibration"]["windows"] >= 20
    assert card["input"]["units"]["rms.x"] == "g"
    assert card["lineage"] == {"dataset_hash": card["dataset"]["hash"], "parent": None}
    assert len(card["artifact"]["sha256"]) == 64

    project = load_project(folder)
    options = ScoreOptions(model="spindle@1", from_=at(0), to=at(SECONDS))
    in_process = asyncio.run(score_model(options, project))
    done = _cli(folder, "score", "--model", "spindle@1", "--from", at(0), "--to", at(SECONDS))
    done_json = _cli(
        folder, "score", "--model", "spindle@1", "--from", at(0), "--to", at(SECONDS), "--json"
    )
    assert done.returncode == 0 and done_json.returncode == 0, done.stderr + done_json.stderr
    new_process = [json.loads(line) for line in done_json.stdout.splitlines()]
    assert new_process == in_process  # every score, health index and state, bit for bit
    assert len(new_process) > 160
    scores = [r["score"] for r in new_process]
    assert statistics.median(scores[:80]) * 10 < statistics.median(scores[-40:])
    assert new_process[-1]["state"] == "alarm" and new_process[-1]["health_index"] <= 50

    result = runner.invoke(
        app, ["evaluate", "--model", "spindle", "--from", at(0), "--to", at(SECONDS), "--json", *p]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model"] == "spindle@1" and report["first_alarm"] is not None

    artifact = folder / ".shopfloor" / "models" / "spindle" / "1" / "artifact.zip"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    done = _cli(folder, "score", "--model", "spindle@1", "--from", at(0), "--to", at(10), "--json")
    assert done.returncode != 0 and done.stdout == ""
    assert "changed after it was registered" in done.stderr and str(artifact) in done.stderr


def test_registry_commands_list_promote_show_export(folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    p = ["-p", str(folder)]
    for _ in range(2):
        result = runner.invoke(
            app,
            [
                "train",
                "--name",
                "quick",
                "--pipeline",
                "spindle-features",
                "--from",
                at(0),
                "--to",
                at(22),
                "--split",
                "0.6,0.4",
                "--labels",
                "none",
                *p,
            ],
        )
        assert result.exit_code == 0, result.output
        assert "registered quick@" in result.output
    result = runner.invoke(app, ["models", "promote", "quick@1", *p])
    assert result.exit_code == 0 and "production" in result.output
    result = runner.invoke(app, ["models", "promote", "quick@2", "--json", *p])
    assert json.loads(result.output)["stage"] == "production"
    result = runner.invoke(app, ["models", "list", "--json", *p])
    stages = {(r["name"], r["version"]): r["stage"] for r in json.loads(result.output)}
    assert stages[("quick", 1)] == "archived" and stages[("quick", 2)] == "production"
    result = runner.invoke(app, ["models", "show", "quick", "--json", *p])
    shown = json.loads(result.output)
    assert shown["version"] == 2 and shown["lineage"]["parent"] == 1
    result = runner.invoke(app, ["models", "export", "quick@2", str(tmp_path / "mlflow"), *p])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mlflow" / "MLmodel").is_file()
    result = runner.invoke(app, ["models", "show", "quick@9", *p])
    assert result.exit_code == 1 and "no version 9" in result.output


def test_bad_options_exit_with_the_reason(folder: Path) -> None:
    runner = CliRunner()
    p = ["-p", str(folder)]
    train = ["train", "--name", "m", "--pipeline", "spindle-features", "--from", at(0)]
    result = runner.invoke(app, [*train, "--model", "nope", *p])
    assert result.exit_code == 1 and "unknown model type 'nope'" in result.output
    result = runner.invoke(app, [*train, "--params", "[1]", *p])
    assert result.exit_code == 2 and "JSON object" in result.output
    result = runner.invoke(app, [*train, "--labels", "events", *p])
    assert result.exit_code == 2 and "--labels 'events'" in result.output
    result = runner.invoke(app, ["train", "--name", "m", "--from", at(0), *p])
    assert result.exit_code == 2 and "--pipeline" in result.output
    result = runner.invoke(
        app,
        [
            "labels",
            "add",
            "--asset",
            ASSET,
            "--label",
            "broken",
            "--from",
            at(0),
            "--to",
            at(1),
            *p,
        ],
    )
    assert result.exit_code == 2 and "label 'broken' is not valid" in result.output
    result = runner.invoke(app, ["score", "--model", "absent", "--from", at(0), *p])
    assert result.exit_code == 1 and "no model 'absent'" in result.output


def test_labels_add_list_delete(folder: Path) -> None:
    runner = CliRunner()
    p = ["-p", str(folder)]
    result = runner.invoke(
        app,
        [
            "labels",
            "add",
            "--asset",
            ASSET,
            "--signal",
            "spindle_accel",
            "--label",
            "fault:outer_race",
            "--from",
            at(50),
            "--to",
            at(60),
            "--json",
            *p,
        ],
    )
    assert result.exit_code == 0, result.output
    added = json.loads(result.output)
    result = runner.invoke(app, ["labels", "list", "--from", at(55), "--json", *p])
    assert added["id"] in [r["id"] for r in json.loads(result.output)]
    result = runner.invoke(app, ["labels", "delete", str(added["id"]), *p])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["labels", "delete", str(added["id"]), *p])
    assert result.exit_code == 2 and f"no label with id {added['id']}" in result.output


def _self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    assert page.count('src="data:image/png;base64,') >= 2


def test_budget_report_show_and_labelled_evaluation(folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    p = ["-p", str(folder)]
    train = [
        *("train", "--name", "budgeted", "--pipeline", "spindle-features"),
        *("--from", at(0), "--to", at(22), "--split", "0.5,0.5", "--labels", "none"),
    ]
    result = runner.invoke(app, [*train, "--false-alarm-budget", "1/10000", *p])
    assert result.exit_code == 1 and "too few" in result.output and "at least" in result.output
    result = runner.invoke(app, [*train, "--false-alarm-budget", "2/fortnight", *p])
    assert result.exit_code == 2 and "--false-alarm-budget" in result.output

    result = runner.invoke(app, [*train, "--false-alarm-budget", "1/4", "--json", *p])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    budget = card["calibration"]["budget"]
    assert budget["given"] == "1/4 windows" and budget["per_window"] == 0.25
    assert budget["method"] == "empirical quantile" and budget["windows"] >= 40
    assert budget["threshold"] == card["calibration"]["thresholds"]["alarm"]
    version_dir = folder / ".shopfloor" / "models" / "budgeted" / "1"
    assert card["report"] == {
        "json": str(version_dir / "report.json"),
        "html": str(version_dir / "report.html"),
    }
    report = json.loads((version_dir / "report.json").read_text())
    assert report["kind"] == "training" and report["name"] == "budgeted@1"
    assert set(report["contributions"]) == set(card["input"]["features"])
    assert report["thresholds"]["alarm"] == 50.0
    _self_contained((version_dir / "report.html").read_text())

    result = runner.invoke(app, [*train, "--false-alarm-budget", "1/4", *p])
    assert result.exit_code == 0, result.output
    assert f"report: {folder}" in result.output.replace("\n", "") and "1/4 windows" in result.output

    result = runner.invoke(app, ["models", "show", "budgeted@1", *p])
    assert result.exit_code == 0, result.output
    shown = result.output
    for field in (
        "budgeted@1",
        "robust_zscore (anomaly)",
        "stage",
        "code version",
        "parameters",
        "spec hash",
        card["pipeline"]["spec_hash"][:20],
        "rms.x [g]",
        card["dataset"]["hash"][:20],
        "ranges",
        "split",
        "metrics",
        "calibration",
        "empirical quantile",
        "lineage",
        card["created_by"],
    ):
        assert field in shown, field
    result = runner.invoke(app, ["models", "show", "budgeted@1", "--json", *p])
    assert json.loads(result.output)["calibration"]["budget"]["given"] == "1/4 windows"

    added = []
    for label, start, end in (("healthy", 0, 30), ("fault:outer_race", 30, 60)):
        result = runner.invoke(
            app,
            [
                *("labels", "add", "--asset", ASSET, "--label", label),
                *("--from", at(start), "--to", at(end), "--json", *p),
            ],
        )
        assert result.exit_code == 0, result.output
        added.append(str(json.loads(result.output)["id"]))
    try:
        evaluate = ["evaluate", "--model", "budgeted@1", "--from", at(0), "--to", at(SECONDS)]
        out = tmp_path / "evaluation"
        result = runner.invoke(app, [*evaluate, "--report", str(out), *p])
        assert result.exit_code == 0, result.output
        assert "AUROC" in result.output and "confusion (healthy, fault)" in result.output
        assert "run to failure" in result.output
        result = runner.invoke(app, [*evaluate, "--json", *p])
        metrics = json.loads(result.output)["metrics"]
        assert metrics["auroc"] > 0.8
        assert metrics["labelled"]["labels"] == ["healthy", "fault"]
        assert metrics["labelled"]["recall"]["fault"] > 0.5
        assert metrics["run_to_failure"]["lead_time_s"] > 0
        report = json.loads((out / "report.json").read_text())
        assert report["kind"] == "evaluation" and report["metrics"]["auroc"] == metrics["auroc"]
        _self_contained((out / "report.html").read_text())
    finally:
        for label_id in added:
            runner.invoke(app, ["labels", "delete", label_id, *p])


def test_a_models_entrys_budget_per_day_sets_the_threshold(folder: Path, tmp_path: Path) -> None:
    # the project file refuses a models: section until it runs; the entry is given here
    copy = tmp_path / "plant"
    (copy / ".shopfloor").mkdir(parents=True)
    shutil.copy(folder / ".shopfloor" / "store.duckdb", copy / ".shopfloor" / "store.duckdb")
    (copy / "factory.yaml").write_text(PROJECT)
    loaded = load_project(copy)
    options = TrainOptions(name="daily", split="0.5,0.5", labels="none")
    # 0.25 s hop: 345,600 windows a day; 86,400 alarms a day is one window in 4
    for budget in (86_400.0, 2.0):
        entry = ModelConfig(
            name="daily",
            type="robust_zscore",
            pipeline="spindle-features",
            training=TrainingWindow(start=at(0), end=at(22)),
            false_alarm_budget_per_day=budget,
        )
        project = replace(loaded, config=loaded.config.model_copy(update={"models": [entry]}))
        if budget == 2.0:  # about 6e-6 of the windows: far too few windows for that
            with pytest.raises(ModelError, match="too few"):
                asyncio.run(train_model(options, project, who="ana"))
            continue
        card = asyncio.run(train_model(options, project, who="ana"))
    budget_card = card["calibration"]["budget"]
    assert budget_card["given"] == "86400/day" and budget_card["alarms_per_day"] == 86_400
    assert budget_card["per_window"] == pytest.approx(0.25)
    assert card["created_by"] == "ana" and Path(card["report"]["html"]).is_file()
