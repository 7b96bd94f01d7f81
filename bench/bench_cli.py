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


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, capture_output=True, timeout=120)


def run() -> Section:
    section = Section(
        "CLI start-up",
        "Wall time of `shopfloor --help` and `shopfloor status` (a stopped platform with no "
        f"store) in a fresh process, median of {REPEAT}, against `python -c pass` measured "
        f"in the same run. Goal: at most {GOAL_S} s more than the bare interpreter.",
    )
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "plant"
        _run("-m", "shopfloor.cli.main", "init", str(project))
        bare = median_of(lambda: _run("-c", "pass"), REPEAT)
        cases = {
            "shopfloor --help": ("-m", "shopfloor.cli.main", "--help"),
            "shopfloor status": ("-m", "shopfloor.cli.main", "status", "-p", str(project)),
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
        "`status` loads the project file, and `shopfloor.config` imports the pipeline and "
        "bus configs, which today import scipy and DuckDB: its start-up follows that import."
    )
    return section
