"""`shopfloor --help` stays light: it imports no numpy, scipy, DuckDB or asyncua."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from shopfloor.cli.main import app

HEAVY = ("numpy", "scipy", "duckdb", "asyncua", "pyarrow")

_PROBE = """
import sys
sys.argv = ["shopfloor", "--help"]
from shopfloor.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def test_help_imports_no_heavy_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ingest" in done.stdout and "pipelines" in done.stdout
    line = next(x for x in done.stderr.splitlines() if x.startswith("HEAVY="))
    assert line == "HEAVY=", f"--help imported {line.removeprefix('HEAVY=')}"


def test_lazy_groups_help_matches_their_own() -> None:
    import importlib

    lazy = typer.main.get_command(app).lazy  # type: ignore[attr-defined]
    for name, entry in lazy.items():
        sub = importlib.import_module(entry.module).app
        assert sub.info.help == entry.help, name


@pytest.mark.parametrize(
    ("group", "command"), [("sim", "cnc"), ("pipelines", "fit"), ("opcua", "browse")]
)
def test_lazy_groups_run_and_show_their_commands(group: str, command: str) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [group, "--help"])
    assert result.exit_code == 0, result.output
    assert command in result.output and "--install-completion" not in result.output
