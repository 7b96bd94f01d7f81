"""Ingest recordings through the CLI and read them back: the foundation's end-to-end path."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.connectors.recordings import IngestReport, ingest_recordings
from shopfloor.connectors.recordings.base import Chunk
from shopfloor.errors import StoreUnavailable
from shopfloor.model import Provenance, Record, ScalarBatch, Signal, SignalRef
from shopfloor.store.protocol import SignalInfo, WriteReport

from .conftest import ASSET


def make_csv(path: Path, n: int, corrupt_every: int = 0, sep: str = ",") -> set[int]:
    """A CSV of n rows; every corrupt_every-th row is broken in one of four ways."""
    bad_lines: set[int] = set()
    start = np.datetime64("2024-05-01T00:00:00", "ms")
    with path.open("w") as f:
        f.write(f"timestamp{sep}value\n")
        for i in range(n):
            ts = f"{start + np.timedelta64(i * 100, 'ms')}Z"
            line = f"{ts}{sep}{20 + (i % 50) / 10}"
            if corrupt_every and i % corrupt_every == corrupt_every - 1:
                line = [f"{ts}{sep}abc", f"garbage{sep}1.0", f"{ts}{sep}1{sep}2", f"{ts}{sep}"][
                    (i // corrupt_every) % 4
                ]
                bad_lines.add(i + 2)
            f.write(line + "\n")
    return bad_lines


def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_ingest_csv_query_back_and_dead_letters(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    csv = tmp_path / "temp.csv"
    bad = make_csv(csv, 5000, corrupt_every=100)
    code, out = invoke(
        runner,
        "ingest",
        str(csv),
        "--asset",
        ASSET,
        "--signal",
        "spindle_temperature",
        "-p",
        str(project),
        "--json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["rows"] == 5000 and report["rows_rejected"] == len(bad) == 50
    assert report["values_written"] == 5000 - 50
    code, out = invoke(
        runner,
        "query",
        "--asset",
        ASSET,
        "--signal",
        "spindle_temperature",
        "-p",
        str(project),
        "--json",
    )
    assert code == 0, out
    assert len(json.loads(out)["rows"]) == 4950
    code, out = invoke(runner, "dead-letters", "-p", str(project), "--json", "--limit", "100")
    letters = json.loads(out)
    assert letters["total"] == 50
    lines = {int(d["location"].rsplit(":", 1)[1]) for d in letters["dead_letters"]}
    assert lines == bad
    reasons = " ".join(d["reason"] for d in letters["dead_letters"])
    for expected in (
        "is not a number",
        "is not an ISO 8601 time",
        "fields, expected 2",
        "is empty",
    ):
        assert expected in reasons
    # ingesting the same file again stores nothing twice
    code, out = invoke(
        runner,
        "ingest",
        str(csv),
        "--asset",
        ASSET,
        "--signal",
        "spindle_temperature",
        "-p",
        str(project),
        "--json",
    )
    assert json.loads(out)["duplicates"] == 4950


def test_downsampled_query(project: Path, runner: CliRunner, tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    make_csv(csv, 600)
    assert (
        invoke(
            runner,
            "ingest",
            str(csv),
            "--asset",
            ASSET,
            "--signal",
            "spindle_temperature",
            "-p",
            str(project),
        )[0]
        == 0
    )
    code, out = invoke(
        runner,
        "query",
        "--signal",
        f"{ASSET}/spindle_temperature",
        "--every",
        "10s",
        "--from",
        "2024-05-01T00:00:00Z",
        "--to",
        "2024-05-01T00:01:00Z",
        "-p",
        str(project),
        "--json",
    )
    rows = json.loads(out)["rows"]
    assert code == 0 and len(rows) == 6 and all(r["count"] == 100 for r in rows)


def test_semicolon_gzip_start_rate_and_decimal_comma(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "load.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("load\n")
        for i in range(1000):
            f.write(f"{i},5\n" if i != 10 else "\n")
    code, out = invoke(
        runner,
        "ingest",
        str(path),
        "--asset",
        ASSET,
        "--signal",
        "spindle_load",
        "--start",
        "2024-05-01T00:00:00Z",
        "--rate",
        "100",
        "--delimiter",
        ";",
        "--decimal",
        ",",
        "-p",
        str(project),
        "--json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["values_written"] == 999 and report["blank_lines"] == 1
    code, out = invoke(
        runner,
        "query",
        "--asset",
        ASSET,
        "--signal",
        "spindle_load",
        "--limit",
        "12",
        "-p",
        str(project),
        "--json",
    )
    rows = json.loads(out)["rows"]
    assert rows[1]["ts"] == "2024-05-01T00:00:00.010Z" and rows[1]["value"] == 1.5
    # the blank line took no slot: the row after it follows on directly
    assert rows[10]["ts"] == "2024-05-01T00:00:00.100Z" and rows[10]["value"] == 11.5


def test_parquet_wide_mapping_and_create(project: Path, runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    ts = pa.array(
        np.datetime64("2024-05-01T00:00:00", "ns") + np.arange(100).astype("timedelta64[s]"),
        pa.timestamp("ns", tz="UTC"),
    )
    load = pa.array([float(i) if i != 5 else None for i in range(100)])
    pq.write_table(
        pa.table({"time": ts, "S1_load": load, "X1_pos": pa.array(np.arange(100.0))}), path
    )
    code, out = invoke(
        runner,
        "ingest",
        str(path),
        "--asset",
        ASSET,
        "--map",
        "S1_load=spindle_load",
        "--map",
        "X1_pos=x_position",
        "-p",
        str(project),
        "--json",
    )
    assert code == 2 and "x_position" in out and "--create" in out
    code, out = invoke(
        runner,
        "ingest",
        str(path),
        "--asset",
        ASSET,
        "--map",
        "S1_load=spindle_load",
        "--map",
        "X1_pos=x_position",
        "--create",
        "--unit",
        "mm",
        "-p",
        str(project),
        "--json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["values_written"] == 199 and report["rows_rejected"] == 1
    assert report["examples"][0]["location"].endswith("wide.parquet:row 6")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--asset", "bad/path", "--signal", "x"], "--asset"),
        (["--asset", ASSET], "--signal"),
        (["--asset", ASSET, "--signal", "spindle_load", "--start", "2024-01-01"], "--rate"),
        (["--asset", ASSET, "--signal", "nope"], "no signal 'nope'"),
        (["--asset", ASSET, "--signal", "spindle_load", "--time-column", "zzz"], "no column 'zzz'"),
        (["--asset", ASSET, "--signal", "spindle_load", "--time-format", "weird"], "--time-format"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    project: Path, runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    csv = tmp_path / "t.csv"
    make_csv(csv, 10)
    code, out = invoke(runner, "ingest", str(csv), *args, "-p", str(project))
    assert code == 2, out
    assert message in out


def test_missing_file_and_unknown_flag(project: Path, runner: CliRunner) -> None:
    code, out = invoke(
        runner,
        "ingest",
        "/nonexistent.csv",
        "--asset",
        ASSET,
        "--signal",
        "spindle_load",
        "-p",
        str(project),
    )
    assert code == 2 and "no such file" in out
    code, _ = invoke(runner, "ingest", "--frobnicate")
    assert code == 2


def test_no_project_says_how_to_make_one(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOPFLOOR_PROJECT", raising=False)
    code, out = invoke(runner, "signals")
    assert code == 2 and "shopfloor init" in out


@pytest.mark.slow
def test_ten_million_rows_with_one_percent_corrupt(project: Path, tmp_path: Path) -> None:
    """The foundation's acceptance run: every row stored or dead-lettered with its line."""
    import subprocess
    import sys

    n = 10_000_000
    path = tmp_path / "big.csv"
    rng = np.random.default_rng(7)
    start = np.datetime64("2024-01-01T00:00:00", "ms")
    ts = (start + np.arange(n).astype("timedelta64[ms]")).astype(str)
    values = np.char.mod("%.3f", rng.normal(50, 5, n))
    corrupt = np.flatnonzero(rng.random(n) < 0.01)
    values[corrupt[::2]] = "n/a"
    ts[corrupt[1::2]] = "2024-13-45T99:00:00"
    with path.open("w") as f:
        f.write("timestamp,value\n")
        step = 1_000_000
        for i in range(0, n, step):
            f.write(
                "\n".join(np.char.add(np.char.add(ts[i : i + step], "Z,"), values[i : i + step]))
            )
            f.write("\n")
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
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == n
    assert report["rows_rejected"] == len(corrupt)
    assert report["values_written"] == n - len(corrupt)
    count = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopfloor.cli.main",
            "dead-letters",
            "-p",
            str(project),
            "--json",
            "--limit",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(count.stdout)["total"] == len(corrupt)
    stats = subprocess.run(
        [sys.executable, "-m", "shopfloor.cli.main", "signals", "-p", str(project), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    counts = {s["signal"].rsplit("/", 1)[1]: s["count"] for s in json.loads(stats.stdout)}
    assert counts["spindle_temperature"] == n - len(corrupt)


def test_same_timestamp_conflict_names_its_line(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    """Two rows with one timestamp and different values: the second is a conflict with its
    line, listed first (newest first) by dead-letters; an identical row is a duplicate."""
    csv = tmp_path / "repeat.csv"
    csv.write_text(
        "timestamp,value\n"
        "2024-05-01T00:00:00Z,20.0\n"
        "2024-05-01T00:00:01Z,21.0\n"
        "2024-05-01T00:00:01Z,21.0\n"
        "2024-05-01T00:00:01Z,99.0\n"
    )
    code, out = invoke(
        runner,
        "ingest",
        str(csv),
        "--asset",
        ASSET,
        "--signal",
        "spindle_temperature",
        "-p",
        str(project),
        "--json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["values_written"] == 2 and report["duplicates"] == 1
    assert report["rejected_by_reason"] == {"conflict": 1}
    code, out = invoke(runner, "dead-letters", "-p", str(project), "--json")
    letters = json.loads(out)["dead_letters"]
    assert len(letters) == 1
    assert letters[0]["location"].endswith("repeat.csv:5")
    assert "99.0" in letters[0]["reason"]


class _Chunks:
    """A recording of ``n`` one-value chunks, read as fast as asked."""

    path = Path("endless.csv")
    total = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def chunks(self) -> Iterator[Chunk]:
        ref = SignalRef(ASSET, "temperature")
        for i in range(self.n):
            batch = ScalarBatch.of(ref, [i * 1_000_000], [1.0], Provenance("ingest", "x#1"))
            yield Chunk(scalars=[(batch, np.array([i + 2]))], rows=1, progress=i)


class _DyingStore:
    """A store that takes ``alive`` writes and then is gone, as a killed platform."""

    def __init__(self, alive: int) -> None:
        self.alive = alive

    async def signals(self) -> list[SignalInfo]:
        return [SignalInfo(SignalRef(ASSET, "temperature"), 1, Signal(name="temperature"))]

    async def write_dead_letters(self, letters: object) -> None:
        return None

    async def write(self, records: list[Record]) -> WriteReport:
        if self.alive <= 0:
            await asyncio.sleep(0.2)  # the reader meanwhile fills its queue
            raise StoreUnavailable("platform API at http://127.0.0.1:1 unreachable")
        self.alive -= 1
        return WriteReport(offered=1, written=1)


async def test_a_store_gone_mid_ingest_ends_it_with_how_far_it_got() -> None:
    """The reader ahead of a failed write is cancelled, not left waiting on its queue."""
    store = _DyingStore(alive=3)
    report = IngestReport()
    async with asyncio.timeout(10):
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await ingest_recordings(
                store,  # type: ignore[arg-type]
                [_Chunks(1000)],
                report=report,
            )
    assert report.rows == 3
    assert report.store.written == 3
