"""What every benchmark reports: measurements as ratios to a bare baseline in the same run.

Timings on a shared machine are noisy, so each figure is compared with a baseline measured
in the same process, right before or after, on the same data; the ratio is what the goal
is stated on. Tests never assert a time.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    """One figure of ours next to its baseline.

    ``ratio`` is ours / baseline for rates (higher is better) and baseline / ours is never
    used: for times, set ``higher_is_better=False`` and the ratio is ours / baseline too,
    read as "times slower than the baseline".
    """

    name: str
    ours: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = True
    goal: str = ""
    goal_ratio: float | None = None
    goal_max: float | None = None
    """An absolute goal: ``ours`` must not exceed it (times, when there is no baseline)."""
    goal_min: float | None = None
    """An absolute goal: ``ours`` must reach it (rates, whatever the baseline)."""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.ours / self.baseline  # type: ignore[operator]

    @property
    def meets_goal(self) -> bool | None:
        if self.goal_max is not None:
            return self.ours <= self.goal_max
        if self.goal_min is not None:
            return self.ours >= self.goal_min
        if self.goal_ratio is None or self.ratio is None:
            return None
        if self.higher_is_better:
            return self.ratio >= self.goal_ratio
        return self.ratio <= self.goal_ratio


@dataclass
class Section:
    """The results of one benchmark module."""

    title: str
    description: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Run ``fn`` ``repeat`` times and return the fastest wall time in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Run ``fn`` ``repeat`` times and return the median wall time in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def status_kb(pid: int, field: str) -> int | None:
    """``field`` (``VmHWM``, ``VmRSS``) of ``/proc/PID/status`` in KiB; None once gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None
