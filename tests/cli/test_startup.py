"""`shopfloor --help` and `status` stay light: the import set, never a time, is checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from shopfloor.cli.main import app

HEAVY = ("numpy", "scipy", "duckdb", "asyncua", "pyarrow")
# `status` reads the store with DuckDB when the platform is down; it needs nothing of these.
STATUS_HEAVY = ("scipy", "asyncua", "sklearn", "pint", "numpy", "shopfloor.features", "tenacity")
# Reading a store's statistics imports DuckDB, and none of the record or Arrow machinery.
STATUS_STORE_HEAVY = (*STATUS_HEAVY, "pyarrow", "pandas", "httpx", "shopfloor.model.records")

_PROBE = """
import sys
sys.argv = ["shopfloor", *{argv!r}]
from shopfloor.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def _probe(argv: list[str], heavy: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv, heavy=heavy)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_imports_no_heavy_library() -> None:
    done = _probe(["--help"], HEAVY)
    assert done.returncode == 0, done.stderr
    assert "ingest" in done.stdout and "pipelines" in done.stdout
    line = next(x for x in done.stderr.splitlines() if x.startswith("HEAVY="))
    assert line == "HEAVY=", f"--help imported {line.removeprefix('HEAVY=')}"


def test_status_of_a_stopped_platform_imports_no_compute_library(project: Path) -> None:
    """The example project has a features pipeline; ``status`` loads it without scipy."""
    done = _probe(["status", "-p", str(project)], STATUS_HEAVY)
    assert done.returncode == 0, done.stderr
    assert "not running" in done.stdout
    line = next(x for x in done.stderr.splitlines() if x.startswith("HEAVY="))
    assert line == "HEAVY=", f"status imported {line.removeprefix('HEAVY=')}"


def test_status_of_a_stopped_platform_with_a_store_imports_only_duckdb(project: Path) -> None:
    """The store's row counts come from DuckDB alone: no numpy, no pyarrow."""
    import asyncio

    from shopfloor.config import load_project
    from shopfloor.store import DuckDBStore

    loaded = load_project(project, build_pipelines=False)

    async def make_store() -> None:
        async with DuckDBStore(loaded.store_path, loaded.config.store):
            pass

    asyncio.run(make_store())
    done = _probe(["status", "-p", str(project)], (*STATUS_STORE_HEAVY, "duckdb"))
    assert done.returncode == 0, done.stderr
    assert "not running" in done.stdout and "dead_letters" in done.stdout
    line = next(x for x in done.stderr.splitlines() if x.startswith("HEAVY="))
    assert line == "HEAVY=duckdb", f"status imported {line.removeprefix('HEAVY=')}"


def test_the_command_leaves_its_objects_out_of_the_last_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``main`` freezes the heap when the command is done: the exit skips a last collection.

    That collection scans every object start-up built and frees nothing the OS would not.
    """
    import gc

    from shopfloor.cli.main import main

    monkeypatch.setattr(sys, "argv", ["shopfloor", "--version"])
    assert gc.get_freeze_count() == 0
    try:
        with pytest.raises(SystemExit):
            main()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_lazy_groups_help_matches_their_own() -> None:
    import importlib

    lazy = typer.main.get_command(app).lazy  # type: ignore[attr-defined]
    for name, entry in lazy.items():
        module = importlib.import_module(entry.module)
        if entry.command is not None:  # a single command: its docstring's first line
            assert getattr(module, entry.command).__doc__.splitlines()[0] == entry.help, name
        else:
            assert module.app.info.help == entry.help, name


@pytest.mark.parametrize(
    ("group", "command"), [("sim", "cnc"), ("pipelines", "fit"), ("opcua", "browse")]
)
def test_lazy_groups_run_and_show_their_commands(group: str, command: str) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [group, "--help"])
    assert result.exit_code == 0, result.output
    assert command in result.output and "--install-completion" not in result.output
