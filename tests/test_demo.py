"""`make demo` runs the main job: the CNC over OPC UA, a baseline, a growing fault, an alarm."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


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
