"""Start-up of the ``shopfloor`` command against a bare interpreter in the same run.

Each figure is the median wall time of a fresh process (``python -m shopfloor.cli.main
...``) next to ``python -c pass``; the goal is stated on the time each takes beyond
the bare interpreter (issue 16: ``--help`` and ``status`` start in <= 0.3 s).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import Measurement, Section, median_of

REPEAT = 7
GOAL_S = 0.3


_MAKE_STORE = """
import asyncio, sys
from shopfloor.config import load_project
from shopfloor.store import DuckDBStore

project = load_project(sys.argv[1])
store = DuckDBStore(project.store_path, project.config.store)

async def main() -> None:
    await store.open()
    await store.close()

asyncio.run(main())
"""


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, capture_output=True, timeout=120)


def run() -> Section:
    section = Section(
        "CLI start-up",
        "Wall time of `shopfloor --help` and `shopfloor status` (a stopped platform, without "
        "and with a DuckDB store to read) in a fresh process, median of "
        f"{REPEAT}, against `python -c pass` measured in the same run. Goal: at most "
        f"{GOAL_S} s more than the bare interpreter. `import duckdb` alone is shown for scale.",
    )
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "plant"
        _run("-m", "shopfloor.cli.main", "init", str(project))
        with_store = Path(tmp) / "plant-with-store"
        _run("-m", "shopfloor.cli.main", "init", str(with_store))
        _run("-c", _MAKE_STORE, str(with_store))
        bare = median_of(lambda: _run("-c", "pass"), REPEAT)
        cases = {
            "shopfloor --help": ("-m", "shopfloor.cli.main", "--help"),
            "shopfloor status": ("-m", "shopfloor.cli.main", "status", "-p", str(project)),
            "shopfloor status (store)": (
                *("-m", "shopfloor.cli.main", "status", "-p", str(with_store)),
            ),
            "import duckdb": ("-c", "import duckdb"),
        }
        for name, args in cases.items():
            ours = median_of(lambda args=args: _run(*args), REPEAT)
            section.measurements.append(
                Measurement(
                    name,
                    ours,
                    "s",
                    baseline=bare,
                    baseline_name="python -c pass",
                    higher_is_better=False,
                    goal=f"<= {GOAL_S} s over the baseline",
                    goal_max=bare + GOAL_S,
                )
            )
    section.notes.append(
        "`status` loads the project file without building its pipelines (no scipy, numpy or "
        "pint: package inits re-export lazily); with a store and no running platform it "
        "reads the store's statistics with DuckDB, which brings in duckdb and numpy."
    )
    return section
