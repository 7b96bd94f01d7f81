"""`serve` stops on SIGTERM as `run` does: the platform is stopped, the exit status is 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shopfloor.config.template import write_example_project
from shopfloor.node.lock import LOCK_NAME


@pytest.mark.slow
def test_sigterm_stops_serve_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    write_example_project(folder)
    with subprocess.Popen(
        [sys.executable, "-m", "shopfloor.cli.main", "serve", "--port", "0", "-p", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the platform runs
        assert first.startswith("serving"), first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert not (folder / ".shopfloor" / LOCK_NAME).exists()
