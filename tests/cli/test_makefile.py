"""`make demo` installs the runtime and plots only; the dev and bench extras are for tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(target: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        ["make", "-n", "-B", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if "pip install" in line and " -e " in line]


def test_demo_installs_no_dev_or_bench_extras() -> None:
    installs = _dry_run("demo")
    assert installs and all("dev" not in i and "bench" not in i for i in installs), installs


def test_tests_install_the_dev_extras() -> None:
    assert any("dev" in i for i in _dry_run("unit"))
