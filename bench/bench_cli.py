"""Start-up of the ``shopfloor`` command against a bare interpreter in the same run.

Each figure is the median wall time, and the median CPU time (user + system of the child,
from ``resource.getrusage(RUSAGE_CHILDREN)`` before and after), of a fresh process
(``python -m shopfloor.cli.main ...``) next to ``python -c pass``; the goal is stated on
the time each takes beyond the bare interpreter (issue 16: ``--help`` and ``status`` start
in <= 0.3 s). CPU time is what the process itself spent: on a shared machine it moves far
less than the wall time, which also counts the time spent waiting for a core.

Every process runs with a bytecode cache, as an installed command does: the cache is a
temporary folder (``PYTHONPYCACHEPREFIX``, with ``PYTHONDONTWRITEBYTECODE`` unset) filled
by one untimed run of each case, so no figure includes compiling sources, whatever the
machine's environment says (with ``PYTHONDONTWRITEBYTECODE=1`` a source checkout
compiles every ``shopfloor`` module at each start).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Measurement, Section

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


def _with_bytecode_cache(folder: Path) -> dict[str, str]:
    """This process's environment, writing and reading bytecode in ``folder``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder)
    return env


def _run(args: tuple[str, ...], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, *args], check=True, capture_output=True, timeout=120, env=env)


def _cpu_children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(args: tuple[str, ...], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one fresh ``python *args``."""
    cpu0, t0 = _cpu_children_s(), time.perf_counter()
    _run(args, env)
    return time.perf_counter() - t0, _cpu_children_s() - cpu0


def _medians(args: tuple[str, ...], env: dict[str, str]) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``REPEAT`` runs, after one to fill the cache."""
    _run(args, env)
    runs = [_timed(args, env) for _ in range(REPEAT)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def run() -> Section:
    section = Section(
        "CLI start-up",
        "Wall time and CPU time (user + system of the child process) of `shopfloor --help` "
        "and `shopfloor status` (a stopped platform, without and with a DuckDB store to "
        f"read) in a fresh process, median of {REPEAT}, against `python -c pass` measured "
        f"in the same run. Goal: at most {GOAL_S} s more than the bare interpreter. "
        "`import duckdb` alone is shown for scale.",
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = _with_bytecode_cache(Path(tmp) / "bytecode")
        project = Path(tmp) / "plant"
        _run(("-m", "shopfloor.cli.main", "init", str(project)), env)
        with_store = Path(tmp) / "plant-with-store"
        _run(("-m", "shopfloor.cli.main", "init", str(with_store)), env)
        _run(("-c", _MAKE_STORE, str(with_store)), env)
        bare_wall, bare_cpu = _medians(("-c", "pass"), env)
        cases = {
            "shopfloor --help": ("-m", "shopfloor.cli.main", "--help"),
            "shopfloor status": ("-m", "shopfloor.cli.main", "status", "-p", str(project)),
            "shopfloor status (store)": (
                *("-m", "shopfloor.cli.main", "status", "-p", str(with_store)),
            ),
            "import duckdb": ("-c", "import duckdb"),
        }
        for name, args in cases.items():
            has_goal = name.startswith("shopfloor")  # import duckdb is shown for scale only
            wall, cpu = _medians(args, env)
            for kind, ours, bare in (("wall", wall, bare_wall), ("CPU", cpu, bare_cpu)):
                section.measurements.append(
                    Measurement(
                        f"{name} ({kind})",
                        ours,
                        "s",
                        baseline=bare,
                        baseline_name="python -c pass",
                        higher_is_better=False,
                        goal=f"<= {GOAL_S} s over the baseline" if has_goal else "",
                        goal_max=bare + GOAL_S if has_goal else None,
                    )
                )
    section.notes.append(
        "`status` loads the project file without building its pipelines (no scipy, numpy or "
        "pint: package inits re-export lazily); with a store and no running platform it "
        "reads the store's statistics with DuckDB alone (no numpy or pyarrow)."
    )
    section.notes.append(
        "Every process reads its bytecode from a cache filled by one untimed run, as an "
        "installed command does; none of the figures includes compiling sources "
        "(`PYTHONDONTWRITEBYTECODE=1` on a source checkout adds 0.03 to 0.04 s to `status`)."
    )
    section.notes.append(
        "Wall time on the shared 2-core machine includes waiting for a core while other "
        "work runs; CPU time (RUSAGE_CHILDREN before and after each run) does not, and is "
        "the steadier figure."
    )
    return section
