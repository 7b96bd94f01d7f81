"""Local times that a DST change makes nonexistent or ambiguous are refused unless chosen."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from shopfloor.connectors.recordings.timeparse import parse_times
from shopfloor.model import format_ns, to_ns

from .conftest import ASSET
from .test_ingest import invoke

BERLIN = "Europe/Berlin"
GAP = "2024-03-31 02:30:00"  # clocks go from 02:00 to 03:00: this never happened
TWICE = "2024-10-27 02:30:00"  # clocks go from 03:00 back to 02:00: this happened twice
PLAIN = "2024-06-01 12:00:00"


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "local.csv"
    path.write_text(f"time,value\n{PLAIN},1\n{GAP},2\n{TWICE},3\n")
    return path


def test_ingest_refuses_both_by_default_naming_the_row(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    args = ["ingest", str(_csv(tmp_path)), "--asset", ASSET, "--signal", "spindle_temperature"]
    code, out = invoke(runner, *args, "--timezone", BERLIN, "-p", str(project), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["values_written"] == 1 and report["rows_rejected"] == 2
    reasons = {e["location"].rsplit(":", 1)[1]: e["reason"] for e in report["examples"]}
    assert "does not exist in Europe/Berlin" in reasons["3"]
    assert "happens twice in Europe/Berlin" in reasons["4"]


def test_ingest_with_a_choice_reads_every_row(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    args = ["ingest", str(_csv(tmp_path)), "--asset", ASSET, "--signal", "spindle_temperature"]
    code, out = invoke(
        runner, *args, "--timezone", BERLIN, "--ambiguous", "latest", "--nonexistent",
        "latest", "-p", str(project), "--json",
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["values_written"] == 3
    code, out = invoke(
        runner, "query", "--asset", ASSET, "--signal", "spindle_temperature", "-p",
        str(project), "--json",
    )  # fmt: skip
    times = [r["ts"] for r in json.loads(out)["rows"]]
    assert "2024-03-31T01:00:00Z" in times  # the end of the gap
    assert "2024-10-27T01:30:00Z" in times  # the second 02:30 (winter time)


def test_bad_choice_exits_2(project: Path, runner: CliRunner, tmp_path: Path) -> None:
    code, out = invoke(
        runner, "ingest", str(_csv(tmp_path)), "--asset", ASSET, "--signal",
        "spindle_temperature", "--ambiguous", "summer", "-p", str(project),
    )  # fmt: skip
    assert code == 2 and "--ambiguous" in out and "'summer'" in out


@pytest.mark.parametrize("fmt", ["iso", "%Y-%m-%d %H:%M:%S"])
def test_parse_times_policies(fmt: str) -> None:
    column = pa.array([PLAIN, GAP, TWICE])
    problems: dict[int, str] = {}
    values, ok = parse_times(column, fmt, timezone=BERLIN, problems=problems)
    assert ok.tolist() == [True, False, False] and sorted(problems) == [1, 2]
    assert format_ns(int(values[0])) == "2024-06-01T10:00:00Z"
    values, ok = parse_times(
        column, fmt, timezone=BERLIN, ambiguous="earliest", nonexistent="earliest"
    )
    assert ok.all() and int(values[2]) == to_ns("2024-10-27T00:30:00Z")


def test_parse_times_slow_path_refuses_too() -> None:
    column = pa.array([PLAIN, "2024-03-31T02:30:00.5", "garbage", TWICE.replace(" ", "T")])
    problems: dict[int, str] = {}
    _, ok = parse_times(column, timezone=BERLIN, problems=problems)
    assert ok.tolist() == [True, False, False, False]
    assert sorted(problems) == [1, 3]


def test_capture_times_in_a_dst_change_are_refused() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from shopfloor.connectors.recordings.captureparse import time_from_columns, time_from_name

    zone = ZoneInfo(BERLIN)
    with pytest.raises(ValueError, match="does not exist in Europe/Berlin"):
        time_from_name("2024.03.31.02.30.00", "%Y.%m.%d.%H.%M.%S", zone)
    with pytest.raises(ValueError, match="happens twice in Europe/Berlin"):
        time_from_columns(date(2024, 10, 27), (2 * 3600 + 30 * 60) * 10**9, zone)
    ns = time_from_name("2024.06.01.12.00.00", "%Y.%m.%d.%H.%M.%S", zone)
    assert format_ns(ns) == "2024-06-01T10:00:00Z"
