from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.config import load_project
from shopfloor.config.template import EXAMPLE_PROJECT, write_example_project
from shopfloor.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "factory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_project_is_valid(tmp_path: Path) -> None:
    path = write_example_project(tmp_path)
    project = load_project(path)
    assert project.config.project.name == "example-plant"
    assert project.store_path == tmp_path.resolve() / ".shopfloor/store.duckdb"
    with pytest.raises(ConfigError, match="--force"):
        write_example_project(tmp_path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    return info.value.issues or [str(info.value)]


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    text = EXAMPLE_PROJECT.replace("unit: degC", "unit: degCC").replace(
        "sample_rate_hz: 25600", "sample_rate_hz: -1"
    )
    issues = problems(tmp_path, text)
    lines = EXAMPLE_PROJECT.splitlines()
    unit_line = next(i for i, t in enumerate(lines, 1) if "unit: degC" in t)
    assert any(
        f"factory.yaml:{unit_line}: assets[0].signals[2].unit: unknown unit 'degCC'" in i
        for i in issues
    ), issues
    assert any(
        "assets[0].signals[6].sample_rate_hz" in i and "greater than 0" in i for i in issues
    ), issues


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    issues = problems(tmp_path, "project:\n  name: a\n  name: b\n")
    assert "factory.yaml:3" in issues[0] and "given twice" in issues[0]


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    issues = problems(tmp_path, "project:\n  name: [unclosed\n")
    assert "factory.yaml:" in issues[0] and "not valid YAML" in issues[0]


def test_unknown_fields_and_secrets(tmp_path: Path) -> None:
    issues = problems(tmp_path, "project:\n  name: a\n  password: hunter2\n")
    assert "project.password: unknown field 'password'" in issues[0]
    assert "password_env" in issues[0]


def test_cross_references_are_checked(tmp_path: Path) -> None:
    text = """
project: {name: x}
assets:
  - path: acme/p1/area/line/cell/m1
    signals:
      - {name: speed, unit: rpm, connector: plc, source: "40001"}
      - {name: speed}
      - {name: acc, kind: waveform, sample_rate_hz: 1000}
pipelines:
  - name: p
    asset: acme/p1/area/line/cell/m1
    sources: [acc, missing]
    window: {length_s: 1}
models:
  - {name: m, type: isolation_forest, pipeline: nope}
deployments:
  - {name: d, model: ghost}
alert_rules:
  - {name: r, signal: acme/p1/area/line/cell/m1/acc, threshold: 1}
"""
    issues = "\n".join(problems(tmp_path, text))
    assert "no connector 'plc'" in issues
    assert "signal 'speed' is defined twice" in issues
    assert "has no signal 'missing'" in issues
    assert "no pipeline 'nope'" in issues
    assert "no model 'ghost'" in issues
    assert "is waveform, not scalar" in issues


def test_unknown_connector_type(tmp_path: Path) -> None:
    issues = problems(tmp_path, "project: {name: x}\nconnectors:\n  - {name: a, type: telepathy}\n")
    assert "factory.yaml:3: connectors[0].type: unknown connector type 'telepathy'" in issues[0]


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_project(tmp_path / "nope.yaml")
    issues = problems(tmp_path, "")
    assert "field required: project" in issues[0]


def test_without_building_pipelines_the_feature_catalog_is_not_consulted(tmp_path: Path) -> None:
    path = write_example_project(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("features: [rms, ", "features: [rmss, "), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert any("rmss" in issue for issue in info.value.issues or [])
    project = load_project(path, build_pipelines=False)
    assert project.config.pipelines[0].steps[0].kind == "features"
