"""CSV files Arrow cannot read are a clear error naming file and line, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from .conftest import ASSET
from .test_ingest import invoke

ROWS = "".join(f"2024-05-01T00:00:{i:02d}Z,{20 + i}\n" for i in range(5))


def _ingest(runner: CliRunner, project: Path, path: Path, *extra: str) -> tuple[int, str]:
    return invoke(
        runner, "ingest", str(path), "--asset", ASSET, "--map", "Temp °C=spindle_temperature",
        "-p", str(project), *extra,
    )  # fmt: skip


def test_cp1252_header_needs_and_takes_encoding(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(("time,Temp °C\n" + ROWS).encode("cp1252"))
    code, out = _ingest(runner, project, path)
    assert code == 2, out
    assert f"{path}:1" in out.replace("\n", "") and "0xb0" in out and "--encoding" in out
    code, out = _ingest(runner, project, path, "--encoding", "cp1252", "--json")
    assert code == 0, out
    assert json.loads(out)["values_written"] == 5


def test_unknown_encoding_exits_2(project: Path, runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,Temp °C\n" + ROWS)
    code, out = _ingest(runner, project, path, "--encoding", "klingon")
    assert code == 2 and "'klingon'" in out


def test_a_field_longer_than_the_read_block_names_its_line(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w") as f:
        f.write("time,Temp °C,note\n" + ROWS.replace("Z,", "Z,x,"))
        for i in range(3):
            f.write(f"2024-05-01T00:01:{i:02d}Z,{i},short\n")
        f.write("2024-05-01T00:02:00Z,1," + "y" * (50 * 1024 * 1024) + "\n")
        f.write("2024-05-01T00:02:01Z,2,short\n")
    code, out = _ingest(runner, project, path)
    assert code == 2, out[-2000:]
    flat = out.replace("\n", "")
    assert f"{path}:10" in flat and "50.0 MiB" in flat
