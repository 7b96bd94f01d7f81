"""Alert rules and notifiers in the project file: validated with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.config import load_project
from shopfloor.config.template import EXAMPLE_PROJECT
from shopfloor.errors import ConfigError

CNC = "acme/plant1/machining/line1/cell1/cnc-01"


def project(tmp_path: Path, rules: str, notifiers: str = "") -> Path:
    text = EXAMPLE_PROJECT.replace("alert_rules: []", "alert_rules:\n" + rules)
    if notifiers:
        text = text.replace("notifiers: []", "notifiers:\n" + notifiers)
    path = tmp_path / "factory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_project(path, build_pipelines=False)
    return info.value.issues


def line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def test_rules_and_notifiers_load(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        f"  - {{name: hot, signal: {CNC}/spindle_temperature, threshold: 70, for_s: 5,"
        " notify: [ops]}\n"
        f"  - {{name: jumpy, kind: rate_of_change, signal: {CNC}/spindle_load, threshold: 5,"
        " window_s: 10}\n"
        f"  - {{name: quiet, kind: stale, signal: {CNC}/spindle_speed, stale_s: 30}}\n"
        f"  - {{name: score, signal: {CNC}/health.anomaly_score, threshold: 10}}\n",
        "  - {name: ops, type: webhook, url: 'http://127.0.0.1:9/hook'}\n",
    )
    config = load_project(path, build_pipelines=False).config
    assert [r.kind for r in config.alert_rules] == [
        "threshold",
        "rate_of_change",
        "stale",
        "threshold",
    ]
    assert config.alert_rules[0].auto_resolve and config.alert_rules[0].notify == ["ops"]
    assert [n.name for n in config.notifiers] == ["ops"]
    # the pipeline's derived signal is known exactly once the pipeline is built
    assert load_project(path).config.alert_rules[3].name == "score"


def test_every_problem_with_its_line(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        f"  - {{name: hot, signal: {CNC}/spindle_temperatur, threshold: 70}}\n"
        f"  - {{name: told, signal: {CNC}/spindle_load, threshold: 1, notify: [opz]}}\n"
        f"  - {{name: roc, kind: rate_of_change, signal: {CNC}/spindle_load, threshold: 1}}\n"
        f"  - {{name: wave, signal: {CNC}/spindle_accel, threshold: 1}}\n"
        f"  - {{name: nope, signal: {CNC}/health.anomaly_scor, threshold: 1}}\n",
        "  - {name: ops, type: webhook, url: 'ftp://x'}\n  - {name: opx, type: pager}\n",
    )
    issues = problems(path)
    text = "\n".join(issues)
    f = path.name
    assert (
        f"{f}:{line_of(path, 'spindle_temperatur,')}: alert_rules[0].signal: no asset or "
        f"pipeline output declares signal '{CNC}/spindle_temperatur' (did you mean "
        f"'{CNC}/spindle_temperature'?)"
    ) in text
    assert f"{f}:{line_of(path, 'opz')}: alert_rules[1].notify[0]: no notifier 'opz'" in text
    assert (
        f"{f}:{line_of(path, 'name: roc')}: alert_rules[2]: a rate_of_change rule needs 'window_s'"
        in text
    )
    assert "alert_rules[3].signal: signal" in text and "is waveform, not scalar" in text
    assert "alert_rules[4].signal: no asset or pipeline output declares" not in text  # prefix
    assert f"{f}:{line_of(path, 'ftp://x')}: notifiers[0].url: url must be an http" in text
    assert f"{f}:{line_of(path, 'pager')}: notifiers[1].type: unknown notifier type 'pager'" in text


def test_built_pipeline_outputs_are_checked_exactly(tmp_path: Path) -> None:
    path = project(
        tmp_path, f"  - {{name: nope, signal: {CNC}/health.anomaly_scor, threshold: 1}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert any(
        "alert_rules[0].signal: no asset or pipeline output declares" in i
        and "did you mean" in i
        and "health.anomaly_score" in i
        for i in info.value.issues
    )


def test_a_stale_rule_has_no_threshold(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        f"  - {{name: q, kind: stale, signal: {CNC}/spindle_speed, stale_s: 3, threshold: 1}}\n",
    )
    assert any("a stale rule has no 'threshold'" in i for i in problems(path))
