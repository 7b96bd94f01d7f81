"""``shopfloor validate`` reports every problem of a project file in one run, each with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.config import load_project
from shopfloor.config.template import EXAMPLE_PROJECT
from shopfloor.errors import ConfigError

# (text in the example, its replacement, what the report must say on that line)
TYPOS = [
    (
        "publishing_interval_ms: 100",
        "publishing_intervall_ms: 100",
        "connectors[0].publishing_intervall_ms: unknown field 'publishing_intervall_ms' "
        "(did you mean 'publishing_interval_ms'?)",
    ),
    (
        "scaler: {method: robust",
        "scaler: {methd: robust",
        "pipelines[0].steps[1].scaler.methd: unknown field 'methd' (did you mean 'method'?)",
    ),
    (
        "velocity_rms, envelope.bpfo.snr,",
        "velocity_rms, envelope.bpfx.snr,",
        "pipelines[0].steps[0].features.features[4]: unknown feature 'envelope.bpfx.snr'",
    ),
    (
        "alert: {column: anomaly_score",
        "alert: {column: anomaly_scor",
        "pipelines[0].outputs[1].alert.column: no step produces column 'anomaly_scor' "
        "(did you mean 'anomaly_score'?)",
    ),
    (
        "source: ns=2;s=CNC01.Tool.Number",
        "source: ns=2;s=CNC01.Spindle.Load",
        "assets[0].signals[4].source: 'ns=2;s=CNC01.Spindle.Load' of connector 'cnc' is "
        "already bound to signal 'acme/plant1/machining/line1/cell1/cnc-01/spindle_load'",
    ),
]


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "factory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    return info.value.issues or [str(info.value)]


def line_of(text: str, fragment: str) -> int:
    """The last line holding ``fragment``."""
    return max(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_validate_reports_five_kinds_of_typo_in_one_run(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT
    for old, new, _ in TYPOS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    write(tmp_path / "plant", text)
    result = CliRunner().invoke(app, ["validate", "-p", str(tmp_path / "plant")])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # the console may wrap long lines
    for _, new, message in TYPOS:
        expected = f"factory.yaml:{line_of(text, new)}: {message}"
        assert expected in output, (expected, result.output)
    report = CliRunner().invoke(app, ["validate", "-p", str(tmp_path / "plant"), "--json"])
    assert report.exit_code == 2
    assert len(json.loads(report.output)["issues"]) == len(TYPOS)


def test_the_options_of_a_signal_are_checked_against_its_connector_type(
    tmp_path: Path,
) -> None:
    text = EXAMPLE_PROJECT.replace("          channel_nodes:", "          channel_node:")
    issues = problems(tmp_path, text)
    assert issues == [
        f"{tmp_path / 'factory.yaml'}:{line_of(text, 'channel_node:')}: "
        "assets[0].signals[6].source_options.channel_node: unknown field 'channel_node' "
        "(did you mean 'channel_nodes'?)"
    ]


def test_every_duplicate_key_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    text = (
        "project:\n  name: a\n  name: b\n"
        "store:\n  path: x.duckdb\n  path: y.duckdb\n"
        "bus: {queue_sise: 3}\n"
    )
    issues = problems(tmp_path, text)
    assert len(issues) == 3, issues
    assert ":3: project.name: key 'name' is given twice" in issues[0]
    assert ":6: store.path: key 'path' is given twice" in issues[1]
    assert (
        ":7: bus.queue_sise: unknown field 'queue_sise' (did you mean 'queue_size'?)" in (issues[2])
    )


def test_a_wrong_connector_does_not_hide_the_references_to_it(tmp_path: Path) -> None:
    # its signals are checked too, and not reported as naming a missing connector
    text = EXAMPLE_PROJECT.replace("endpoint: opc.tcp://127.0.0.1:4840", "endpoint: tcp://x")
    text = text.replace("unit: percent", "unit: percentt")
    issues = problems(tmp_path, text)
    assert len(issues) == 2, issues
    assert "assets[0].signals[1].unit: unknown unit 'percentt'" in issues[0]
    assert "connectors[0].endpoint" in issues[1] and "opc.tcp://" in issues[1]
    assert not any("no connector" in i for i in issues)


def test_unknown_step_and_connector_type_suggest_the_known_one(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("- scaler:", "- scalar:").replace("type: opcua", "type: opcuа")
    issues = "\n".join(problems(tmp_path, text))
    assert "pipelines[0].steps[1]: unknown step 'scalar' (did you mean 'scaler'?)" in issues
    assert "unknown connector type 'opcuа' (did you mean 'opcua'?)" in issues


def test_bearing_features_need_a_bearing_on_the_asset(tmp_path: Path) -> None:
    start = EXAMPLE_PROJECT.index("    bearing:")
    end = EXAMPLE_PROJECT.index("    attributes:")
    text = EXAMPLE_PROJECT[:start] + EXAMPLE_PROJECT[end:]
    issues = problems(tmp_path, text)
    assert len(issues) == 3, issues
    for issue, name in zip(issues, ["bpfo", "bpfi", "bsf"], strict=True):
        assert f"feature 'envelope.{name}.snr' needs bearing=" in issue


def test_step_parameters_are_typed(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("envelope_min_bandwidth_hz: 6000", "n_peaks: 0")
    issues = "\n".join(problems(tmp_path, text))
    assert "pipelines[0].steps[0].features.n_peaks: Input should be greater than" in issues
    text = EXAMPLE_PROJECT.replace(
        "model: {type: zscore}", "model: {type: zscore, columns: [rms.q]}"
    )
    issues = "\n".join(problems(tmp_path, text))
    assert "pipelines[0].steps[2].model.columns[0]: no step produces column 'rms.q'" in issues


def test_models_are_checked_against_the_model_types(tmp_path: Path) -> None:
    entries = (
        "models:\n"
        "  - {name: ok, type: isolation_forest, pipeline: spindle-health,"
        " params: {n_estimators: 50}}\n"
        "  - {name: typo, type: isolation_forrest, pipeline: spindle-health}\n"
        "  - {name: bad-param, type: robust_zscore, pipeline: spindle-health,"
        " params: {treshold: 3}}\n"
        "  - {name: lost, type: pca, pipeline: nowhere}"
    )
    issues = "\n".join(problems(tmp_path, EXAMPLE_PROJECT.replace("models: []", entries)))
    assert "models[0]" not in issues
    assert "models[1].type: unknown model type 'isolation_forrest' (did you mean" in issues
    assert "models[2].params: model type 'robust_zscore': unknown parameter(s) treshold" in issues
    assert "models[3].pipeline: no pipeline 'nowhere'" in issues


def test_deployments_are_accepted_and_their_assets_checked(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("deployments: []", "deployments:\n  - {name: d, model: m}")
    assert load_project(write(tmp_path, text)).config.deployments[0].model == "m"
    text = EXAMPLE_PROJECT.replace(
        "deployments: []", "deployments:\n  - {name: d, model: m, assets: [acme/nowhere]}"
    )
    assert "deployments[0].assets[0]: no asset 'acme/nowhere'" in "\n".join(
        problems(tmp_path, text)
    )


def test_store_outputs_and_pipeline_build_are_checked(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace('store: {prefix: "health."}', "store: {columns: [rsm*]}")
    issues = "\n".join(problems(tmp_path, text))
    assert "pipelines[0].outputs[0].store.columns[0]: no step produces column 'rsm*'" in issues
    text = EXAMPLE_PROJECT.replace("window: {length_s: 1.0}", "window: {length_samples: 4}")
    issues = "\n".join(problems(tmp_path, text))
    assert "pipelines[0]: " in issues and "too short" in issues


def test_validate_prints_values_that_look_like_markup_as_written(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("features: [rms,", "features: ['[bold]rms',")
    write(tmp_path / "plant", text)
    result = CliRunner().invoke(app, ["validate", "-p", str(tmp_path / "plant")])
    assert result.exit_code == 2
    assert "unknown feature '[bold]rms'" in " ".join(result.output.split()), result.output


def test_a_union_reports_the_branch_the_value_was_meant_for(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace(
        "envelope_min_bandwidth_hz: 6000",
        "envelope_min_bandwidth_hz: 6000\n"
        "          bearing: {n_elements: 3, elemnt_diameter_mm: 1, pitch_diameter_mm: 9}\n"
        "          envelope_band: [1, 2, 3]",
    )
    issues = problems(tmp_path, text)
    assert len(issues) == 3, issues
    assert "features.bearing.element_diameter_mm: field required" in issues[0]
    assert (
        "features.bearing.elemnt_diameter_mm: unknown field 'elemnt_diameter_mm' (did"
        in (issues[1])
    )
    assert "features.envelope_band: Tuple should have at most 2 items" in issues[2]


def test_references_are_checked_alongside_type_errors(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("unit: degC", "unit: degCC").replace(
        "context: [spindle_speed, program_state]", "context: [spindle_sped, program_state]"
    )
    issues = problems(tmp_path, text)
    assert len(issues) == 2, issues
    assert "assets[0].signals[2].unit: unknown unit 'degCC'" in issues[0]
    assert (
        "pipelines[0].context[0]: asset 'acme/plant1/machining/line1/cell1/cnc-01' has no "
        in (issues[1])
    )
    assert "signal 'spindle_sped' (did you mean 'spindle_speed'?)" in issues[1]
    # a signal that is written but wrong is said once, not again where a pipeline uses it
    text = EXAMPLE_PROJECT.replace("sample_rate_hz: 25600", "sample_rate_hz: -1")
    issues = problems(tmp_path, text)
    assert len(issues) == 1 and "sample_rate_hz" in issues[0], issues


def test_a_node_given_twice_for_the_channels_of_one_signal(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("CNC01.Vibration.AccelZ", "CNC01.Vibration.AccelX")
    issues = problems(tmp_path, text)
    assert len(issues) == 1, issues
    assert f":{line_of(text, 'CNC01.Vibration.AccelX')}: " in issues[0]
    assert (
        "source_options.channel_nodes[2]: 'ns=2;s=CNC01.Vibration.AccelX' is given twice"
        in (issues[0])
    )


def test_a_misspelt_choice_gets_the_closest_one(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("security_mode: None ", "security_mode: Sing ").replace(
        "kind: event ", "kind: evnt "
    )
    issues = problems(tmp_path, text)
    assert len(issues) == 2, issues
    assert "assets[0].signals[5].kind: Input should be" in issues[0]
    assert "got 'evnt' (did you mean 'event'?)" in issues[0]
    assert "connectors[0].security_mode: " in issues[1]
    assert "got 'Sing' (did you mean 'Sign'?)" in issues[1]
