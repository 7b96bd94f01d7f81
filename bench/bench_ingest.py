"""`shopfloor ingest` of a 10-million-row CSV: direct, and through a running platform.

Direct (the CLI opens the DuckDB file) is measured against a bare Arrow CSV read + DuckDB
append; through the platform (`shopfloor run` in another process, the CLI sending Arrow
IPC requests to its API) against direct, with the client's peak memory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.harness import Measurement, Section, status_kb
from shopfloor.node.lock import read_lock

N = 10_000_000
ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def make_csv(path: Path) -> None:
    rng = np.random.default_rng(3)
    start = np.datetime64("2024-01-01T00:00:00", "ms")
    with path.open("w") as f:
        f.write("timestamp,value\n")
        for i in range(0, N, 1_000_000):
            ts = (start + np.arange(i, i + 1_000_000).astype("timedelta64[ms]")).astype(str)
            values = np.char.mod("%.3f", rng.normal(50, 5, 1_000_000))
            f.write("\n".join(np.char.add(np.char.add(ts, "Z,"), values)) + "\n")


def bare(path: Path, db: Path) -> float:
    t = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE s (ts TIMESTAMP_NS, value DOUBLE)")
    reader = pacsv.open_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={"timestamp": pa.timestamp("ns", tz="UTC"), "value": pa.float64()}
        ),
    )
    for batch in reader:
        table = pa.table(
            {
                "ts": batch.column(0).cast(pa.int64()).view(pa.timestamp("ns")),
                "value": batch.column(1),
            }
        )
        con.register("incoming", table)
        con.execute("INSERT INTO s SELECT * FROM incoming")
        con.unregister("incoming")
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - t


def write_project(folder: Path) -> Path:
    """A project with the one signal, its API on a free loopback port, no connectors."""
    folder.mkdir(parents=True)
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: bench-ingest}}
api: {{host: 127.0.0.1, port: 0}}
store: {{path: .shopfloor/store.duckdb}}
assets:
  - path: {ASSET}
    signals:
      - {{name: spindle_temperature, unit: degC}}
"""
    )
    return folder


def ours(path: Path, project: Path) -> tuple[float, dict[str, Any], float]:
    """Wall time, the ingest's JSON report and the ingest process's peak RSS in MB."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shopfloor.cli.main",
                "ingest",
                str(path),
                "--asset",
                ASSET,
                "--signal",
                "spindle_temperature",
                "-p",
                str(project),
                "--json",
            ],
            stdout=out,
            stderr=err,
        )
        # VmHWM sampled while it runs: ru_maxrss of a child started by vfork + exec
        # carries this (parent) process's own high-water mark
        peak_kb = 0
        while process.poll() is None:
            peak_kb = max(peak_kb, status_kb(process.pid, "VmHWM") or 0)
            time.sleep(0.05)
        seconds = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"shopfloor ingest failed: {err.read().decode()}")
        report: dict[str, Any] = json.loads(out.read())
    return seconds, report, peak_kb / 1024


def start_platform(project: Path) -> subprocess.Popen[bytes]:
    """`shopfloor run` of ``project``, once its API answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "shopfloor.cli.main", "run", "-p", str(project)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lock = read_lock(project / ".shopfloor")
        if lock is not None and lock.pid == process.pid and lock.api_url:
            return process
        if process.poll() is not None:
            raise RuntimeError(f"shopfloor run exited with {process.returncode}")
        time.sleep(0.2)
    process.kill()
    process.wait()
    raise RuntimeError("shopfloor run did not start its API in 120 s")


def through_platform(path: Path, project: Path) -> tuple[float, dict[str, Any], float]:
    """:func:`ours` against a platform running ``project``."""
    platform = start_platform(project)
    try:
        return ours(path, project)
    finally:
        platform.terminate()
        try:
            platform.wait(timeout=60)
        except subprocess.TimeoutExpired:
            platform.kill()
            platform.wait()


def run() -> Section:
    workdir = Path(tempfile.mkdtemp(prefix="shopfloor-bench-ingest-"))
    try:
        csv = workdir / "big.csv"
        make_csv(csv)
        size_mb = csv.stat().st_size / 1e6
        bare_s = bare(csv, workdir / "bare.duckdb")
        ours_s, report, rss_mb = ours(csv, write_project(workdir / "direct"))
        api_s, api_report, api_rss_mb = through_platform(csv, write_project(workdir / "api"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    direct_rate = N / float(report["seconds"])
    api_rate = N / float(api_report["seconds"])
    return Section(
        title="CSV ingest, end to end",
        description=(
            f"`shopfloor ingest` (a new process: CLI start, project load, streaming parse with "
            f"per-row error handling, validation, store write) of a {N:,}-row, {size_mb:.0f} MB "
            "CSV (ISO timestamps, one value column), against a bare typed Arrow streaming CSV "
            "read appended to DuckDB in the same run; then the same file through a running "
            "platform (`shopfloor run` in another process; Arrow IPC requests to its API, four "
            "in flight) against the direct ingest."
        ),
        measurements=[
            Measurement(
                "rows ingested",
                N / ours_s,
                "rows/s",
                N / bare_s,
                "bare Arrow CSV read + DuckDB append",
            ),
            Measurement(
                "rows ingested through the platform's API",
                api_rate,
                "rows/s",
                direct_rate,
                "direct ingest (the CLI opens the store)",
                goal=">= 0.5 x direct",
                goal_ratio=0.5,
            ),
        ],
        notes=[
            f"values stored: {report['values_written']:,}; took {ours_s:.1f} s "
            f"(bare {bare_s:.1f} s)",
            f"peak RSS of the ingest process: {rss_mb:.0f} MB (the file is read in 4 MiB blocks; "
            "most of the rest is DuckDB's buffer pool, capped by store.memory_limit)",
            f"through the platform: {api_report['values_written']:,} values stored; ingest "
            f"{api_report['seconds']:.1f} s (direct {report['seconds']:.1f} s), the process "
            f"{api_s:.1f} s with its start; rates compare the ingest seconds of the reports",
            f"peak RSS of the ingest process through the platform: {api_rss_mb:.0f} MB "
            "(two chunks read ahead, four requests in flight)",
        ],
    )
