"""Run every benchmark (bench/bench_*.py) and write docs/benchmarks.md.

Usage: ``python -m bench.run [--only NAME ...] [--out docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
from pathlib import Path

from bench.harness import Section

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def load_average() -> str:
    """The 1-minute load average, e.g. ``2.7``; ``?`` where the system has none."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def render(sections: list[Section], started: dt.datetime, seconds: float, load: str = "") -> str:
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`). Each figure is compared with a bare "
        "baseline measured in the same run on the same data, and the goal is stated on that "
        "ratio: absolute timings on a shared machine are noisy, ratios much less so.",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC (took {seconds:.0f} s)",
        f"- Machine: {machine()}",
    ]
    if load:
        out.append(f"- Load: {load}")
    out.append("")
    for section in sections:
        out += [
            f"## {section.title}",
            "",
            section.description,
            "",
            "| measurement | ours | baseline | ratio | goal | met |",
            "|---|---|---|---|---|---|",
        ]
        for m in section.measurements:
            base = f"{fmt(m.baseline)} ({m.baseline_name})" if m.baseline is not None else "-"
            met = {True: "yes", False: "**no**", None: "-"}[m.meets_goal]
            ratio = f"{m.ratio:.2f}" if m.ratio is not None else "-"
            out.append(
                f"| {m.name} | {fmt(m.ours)} {m.unit} | {base} | {ratio} | "
                f"{m.goal or '-'} | {met} |"
            )
        if section.notes:
            out.append("")
            out += [f"- {note}" for note in section.notes]
        out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="module names, e.g. bench_store")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    names = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            print(
                f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(names)}",
                file=sys.stderr,
            )
            return 2
        names = [n for n in names if n in args.only]
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)  # lost connections are the test
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    load_start = load_average()
    sections = []
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        section: Section = module.run()
        for m in section.measurements:
            print(
                f"  {m.name}: {fmt(m.ours)} {m.unit}"
                + (
                    f" vs {fmt(m.baseline)} ({m.baseline_name}), ratio {m.ratio:.2f}"
                    if m.ratio is not None
                    else ""
                ),
                flush=True,
            )
        sections.append(section)
    load = (
        f"1-minute load average {load_start} at the start and {load_average()} at the end, "
        f"on {os.cpu_count()} cores shared with other work that ran during the benchmarks: "
        "timings include waiting for a core, which is why each is set against a baseline "
        "measured in the same run"
    )
    text = render(sections, started, time.perf_counter() - t0, load)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
