"""`shopfloor ingest` of a 10-million-row CSV against a bare Arrow CSV read + DuckDB append."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.harness import Measurement, Section
from shopfloor.config.template import write_example_project

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


def ours(path: Path, project: Path) -> tuple[float, dict[str, object]]:
    t = time.perf_counter()
    done = subprocess.run(
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
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t, json.loads(done.stdout)


def run() -> Section:
    workdir = Path(tempfile.mkdtemp(prefix="shopfloor-bench-ingest-"))
    try:
        csv = workdir / "big.csv"
        make_csv(csv)
        size_mb = csv.stat().st_size / 1e6
        bare_s = bare(csv, workdir / "bare.duckdb")
        write_example_project(workdir / "plant")
        ours_s, report = ours(csv, workdir / "plant")
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Section(
        title="CSV ingest, end to end",
        description=(
            f"`shopfloor ingest` (a new process: CLI start, project load, streaming parse with "
            f"per-row error handling, validation, store write) of a {N:,}-row, {size_mb:.0f} MB "
            "CSV (ISO timestamps, one value column), against a bare typed Arrow streaming CSV "
            "read appended to DuckDB in the same run."
        ),
        measurements=[
            Measurement(
                "rows ingested",
                N / ours_s,
                "rows/s",
                N / bare_s,
                "bare Arrow CSV read + DuckDB append",
            ),
        ],
        notes=[
            f"values stored: {report['values_written']:,}; took {ours_s:.1f} s "
            f"(bare {bare_s:.1f} s)",
            f"peak RSS of the ingest process: {rss_mb:.0f} MB (the file is read in 16 MB blocks; "
            "most of the rest is DuckDB's buffer pool, capped by store.memory_limit)",
        ],
    )
