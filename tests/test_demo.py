"""`make demo` runs the main job on the runtime: train, deploy, fault, alarm, write-back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shopfloor.config import load_project
from shopfloor.services.demo import MODEL, PIPELINE, RULE, demo_project_text


@pytest.mark.slow
@pytest.mark.integration
def test_demo_detects_the_fault_without_false_alarms(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shopfloor.cli.main", "demo", "--folder", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "s after onset" in done.stdout
    assert "false alarms before onset    0" in done.stdout
    assert (tmp_path / "demo" / "health_trend.png").stat().st_size > 10_000
    assert (tmp_path / "demo" / "ground_truth.json").exists()


def test_the_demo_project_alerts_on_the_deployment_and_writes_only_what_is_allowed(
    tmp_path: Path,
) -> None:
    (tmp_path / "factory.yaml").write_text(demo_project_text(4840), encoding="utf-8")
    config = load_project(tmp_path).config
    (rule,) = config.alert_rules
    assert (rule.name, rule.deployment, rule.output) == (RULE, MODEL, "state")
    (allowed,) = config.writeback
    assert {w.address for w in rule.writeback} == {t.address for t in allowed.targets}
    assert [(m.name, m.pipeline) for m in config.models] == [(MODEL, PIPELINE)]
