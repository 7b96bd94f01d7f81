"""``shopfloor pipelines``: fit on a baseline, run over history, refuse an outdated fit."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.config import load_project
from shopfloor.model import format_ns
from shopfloor.store import DuckDBStore

from .data import ASSET, START, machine_data

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
  - name: spindle-health
    asset: {ASSET}
    sources: [spindle_accel]
    context: [spindle_speed]
    window: {{length_s: 1.0}}
    when: {{signal: spindle_speed, between: [1000, 20000]}}
    steps:
      - features: {{features: [rms, kurtosis, envelope.bpfo], speed: spindle_speed}}
      - scaler: {{method: robust}}
      - model: {{type: zscore}}
    outputs:
      - store: {{prefix: "health.", columns: [anomaly_score, rms.x]}}
      - alert: {{column: anomaly_score, above: 8, for_s: 2, severity: alarm}}
"""


def make_project(tmp_path: Path) -> Path:
    folder = tmp_path / "plant"
    folder.mkdir()
    (folder / "factory.yaml").write_text(PROJECT)
    project = load_project(folder)

    async def fill() -> None:
        blocks, scalars = machine_data(90.0, fault="outer_race", onset_s=45.0)
        async with DuckDBStore(project.store_path) as store:
            for asset in project.config.assets:
                await store.register_signals(asset.path, asset.signals)
            await store.write([*blocks, *scalars])

    asyncio.run(fill())
    return folder


def test_fit_then_run_then_refuse_a_changed_pipeline(tmp_path: Path) -> None:
    folder = make_project(tmp_path)
    runner = CliRunner()
    at = lambda s: format_ns(START + int(s * 1e9))  # noqa: E731
    result = runner.invoke(
        app,
        ["pipelines", "run", "spindle-health", "--from", at(0), "--to", at(90), "-p", str(folder)],
    )
    assert result.exit_code == 1 and "fit the pipeline first" in result.output
    result = runner.invoke(
        app,
        [
            "pipelines",
            "fit",
            "spindle-health",
            "--from",
            at(0),
            "--to",
            at(40),
            "-p",
            str(folder),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["baseline"]["windows"] > 20
    result = runner.invoke(
        app,
        [
            "pipelines",
            "run",
            "spindle-health",
            "--from",
            at(0),
            "--to",
            at(90),
            "-p",
            str(folder),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["windows"] > 60
    assert report["values_written"] == 2 * report["windows"] + report["alerts"]
    assert report["alerts"] >= 1  # the outer-race fault grows after 45 s
    result = runner.invoke(
        app,
        [
            "query",
            "--asset",
            ASSET,
            "--signal",
            "health.anomaly_score",
            "-p",
            str(folder),
            "--json",
        ],
    )
    scores = [r["value"] for r in json.loads(result.output)["rows"]]
    assert max(scores[-10:]) > 3 * max(scores[:20])
    result = runner.invoke(app, ["pipelines", "list", "-p", str(folder), "--json"])
    (row,) = json.loads(result.output)
    assert row["fitted"]["current"] is True
    # change the window: the fitted state no longer fits and is refused
    text = (folder / "factory.yaml").read_text().replace("length_s: 1.0", "length_s: 0.5")
    (folder / "factory.yaml").write_text(text)
    result = runner.invoke(
        app,
        ["pipelines", "run", "spindle-health", "--from", at(0), "--to", at(10), "-p", str(folder)],
    )
    assert result.exit_code == 1 and "changed since" in result.output
    result = runner.invoke(app, ["pipelines", "list", "-p", str(folder), "--json"])
    assert json.loads(result.output)[0]["fitted"]["current"] is False


def test_bad_pipeline_options(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "factory.yaml").write_text(PROJECT)
    runner = CliRunner()
    result = runner.invoke(
        app, ["pipelines", "fit", "nope", "--from", "2024-01-01", "-p", str(folder)]
    )
    assert result.exit_code == 2 and "no pipeline 'nope'" in result.output
    result = runner.invoke(
        app,
        [
            "pipelines",
            "fit",
            "spindle-health",
            "--from",
            "2024-02-01",
            "--to",
            "2024-01-01",
            "-p",
            str(folder),
        ],
    )
    assert result.exit_code == 2 and "must be after" in result.output


def test_an_unknown_or_inapplicable_feature_is_a_clear_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    runner = CliRunner()
    cases = {
        "envelope.bpfx": "unknown feature 'envelope.bpfx'",
        "band_power_orders.*": "needs bands_orders",
    }
    for feature, reason in cases.items():
        text = PROJECT.replace("[rms, kurtosis, envelope.bpfo]", f"[rms, {feature!r}]")
        (folder / "factory.yaml").write_text(text)
        for args in (
            ["pipelines", "fit", "spindle-health", "--from", "2024-01-01", "-p", str(folder)],
            ["pipelines", "list", "-p", str(folder)],
        ):
            result = runner.invoke(app, args)
            # the project file is checked when it loads: the error names file:line and the step
            assert result.exit_code == 2, result.output
            assert "factory.yaml:" in result.output
            assert "pipelines[0].steps[0]" in result.output
            assert reason in result.output
            assert "Traceback" not in result.output
    # a feature that needs the shaft speed, with no speed to give it
    text = PROJECT.replace(", speed: spindle_speed", "")
    (folder / "factory.yaml").write_text(text)
    result = runner.invoke(
        app, ["pipelines", "fit", "spindle-health", "--from", "2024-01-01", "-p", str(folder)]
    )
    assert result.exit_code == 2, result.output
    assert "'envelope.bpfo' needs the shaft speed" in result.output


def test_a_refit_replaces_old_outputs_only_with_rescore(tmp_path: Path) -> None:
    folder = make_project(tmp_path)
    runner = CliRunner()
    at = lambda s: format_ns(START + int(s * 1e9))  # noqa: E731

    def cli(*args: str) -> tuple[int, dict[str, object]]:
        result = runner.invoke(app, ["pipelines", *args, "-p", str(folder), "--json"])
        text = result.stdout
        return result.exit_code, json.loads(text[: text.rindex("}") + 1]) if "{" in text else {}

    code, _ = cli("fit", "spindle-health", "--from", at(0), "--to", at(40))
    assert code == 0
    code, first = cli("run", "spindle-health", "--from", at(0), "--to", at(60))
    assert code == 0 and first["conflicts"] == 0
    written = first["values_written"]
    assert isinstance(written, int) and written > 0
    # a new fit on another baseline: its scores differ from the stored ones
    code, _ = cli("fit", "spindle-health", "--from", at(10), "--to", at(30))
    assert code == 0
    result = runner.invoke(
        app,
        ["pipelines", "run", "spindle-health", "--from", at(0), "--to", at(60), "-p", str(folder)],
    )
    assert result.exit_code == 1
    assert "--rescore" in result.output and "not written" in result.output
    # the refused run still stores what does not conflict: the new fit's alert events
    stored_by_refused_run = int(re.search(r"(\d+)\s+values\s+stored", result.output)[1])  # type: ignore[index]
    code, again = cli("run", "spindle-health", "--from", at(0), "--to", at(60), "--rescore")
    assert code == 0, again
    assert again["rescored"] is True and again["conflicts"] == 0
    # every old output of the range, and said so
    assert again["replaced"] == written + stored_by_refused_run
    assert again["values_written"] == 2 * again["windows"] + again["alerts"]  # type: ignore[operator]
    assert again["fit_version"] != first["fit_version"]
    code, same = cli("run", "spindle-health", "--from", at(0), "--to", at(60))
    assert code == 0 and same["values_written"] == 0 and same["conflicts"] == 0


def test_fit_warns_about_regimes_missing_from_the_baseline(tmp_path: Path) -> None:
    folder = make_project(tmp_path)
    text = (folder / "factory.yaml").read_text()
    text = text.replace(
        "    steps:\n",
        "    regime: {signal: spindle_speed, edges: [0, 20000, 30000]}\n    steps:\n",
    ).replace("scaler: {method: robust}", "scaler: {method: robust, by_regime: true}")
    (folder / "factory.yaml").write_text(text)
    at = lambda s: format_ns(START + int(s * 1e9))  # noqa: E731
    result = CliRunner().invoke(
        app,
        ["pipelines", "fit", "spindle-health", "--from", at(0), "--to", at(40), "-p", str(folder)],
    )
    assert result.exit_code == 0, result.output
    assert "no baseline window in regime(s) 20000-30000" in result.output
    assert "score NaN (state unknown)" in result.output
