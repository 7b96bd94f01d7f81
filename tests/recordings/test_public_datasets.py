"""Every public data set in ../shared/data imports with the command docs/ingest.md gives.

The commands and factory.yaml snippets are read from docs/ingest.md (the blocks after
``<!-- dataset: NAME -->``), so the documentation is what is tested. Each runs into a fresh
copy of the example project. All 37 CWRU files, one FEMTO bearing (Bearing3_1, 515
captures), the three IMS snapshots and all 18 CNC experiments are imported (about 10 s).
"""

from __future__ import annotations

import csv
import glob
import gzip
import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.io import loadmat
from typer.testing import CliRunner

from shopfloor.config.template import write_example_project
from shopfloor.model import to_ns

from .conftest import add_assets, ingest_json, read_blocks, read_dead_letters, read_scalars

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ingest.md"


def documented(name: str) -> tuple[str | None, str]:
    """The factory.yaml snippet (or None) and the command documented for data set ``name``."""
    text = DOCS.read_text()
    marker = f"<!-- dataset: {name} -->"
    assert marker in text, f"docs/ingest.md has no {marker}"
    after = text.split(marker, 1)[1].split("<!-- dataset:", 1)[0]
    yaml = re.search(r"```yaml\n(.*?)```", after, re.S)
    command = re.search(r"```sh\n(.*?)```", after, re.S)
    assert command is not None
    return (yaml.group(1) if yaml else None), command.group(1)


def run_documented(
    name: str, shared_data: Path, tmp_path: Path, runner: CliRunner, yaml_from: str | None = None
) -> tuple[Path, dict[str, Any], str]:
    """Run the documented command in a new project; return project, report and asset."""
    snippet, command = documented(name)
    if yaml_from is not None:
        snippet, _ = documented(yaml_from)
    project = tmp_path / "plant"
    if not project.exists():
        write_example_project(project)
        assert snippet is not None and snippet.startswith("assets:\n")
        add_assets(project, snippet.split("\n", 1)[1])
    args = shlex.split(command.replace("\\\n", " "))
    assert args[:2] == ["shopfloor", "ingest"]
    expanded: list[str] = []
    for arg in args[2:]:
        if arg.startswith("../shared/data"):
            path = str(shared_data) + arg[len("../shared/data") :]
            matches = sorted(glob.glob(path)) if "*" in path else [path]
            assert matches, arg
            expanded.extend(matches)
        else:
            expanded.append(arg)
    asset = expanded[expanded.index("--asset") + 1]
    return project, ingest_json(runner, project, *expanded), asset


def readme_samples(shared_data: Path) -> dict[str, int]:
    """Samples per CWRU file, from the README's table."""
    text = (shared_data / "cwru" / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+\.mat)` \|(?:[^|]*\|){6}\s*(\d+)\s*\|", text, re.M)
    return {name: int(n) for name, n in rows}


def test_cwru(shared_data: Path, tmp_path: Path, runner: CliRunner) -> None:
    project, report, asset = run_documented("cwru", shared_data, tmp_path, runner)
    samples = readme_samples(shared_data)
    files = sorted(p.name for p in (shared_data / "cwru").glob("*.mat"))
    assert len(samples) == len(files) == 37
    assert [Path(f).name for f in report["files"]] == files
    assert report["rows_rejected"] == 0 and report["values_rejected"] == 0
    assert report["values_written"] == report["waveform_blocks"]
    t0 = to_ns("2024-01-01T00:00:00Z")
    for signal, variable in (("de_acc", "_DE_time"), ("fe_acc", "_FE_time")):
        blocks = read_blocks(project, asset, signal)
        per_file: dict[int, list[Any]] = {}
        for block in blocks:
            per_file.setdefault((block.t0_ns - t0) // (60 * 10**9), []).append(block)
        assert sorted(per_file) == list(range(37))
        for k, name in enumerate(files):
            got = per_file[k]
            rate = 48000 if name.startswith("normal") else 12000
            assert {b.sample_rate_hz for b in got} == {rate}
            assert sum(b.n_samples for b in got) == samples[name], (signal, name)
            assert all(b.n_samples == rate for b in got[:-1])
        for k in (0, 36):  # bit-identical to the file, first and last (the 48 kHz normal)
            content = loadmat(shared_data / "cwru" / files[k])
            (key,) = [v for v in content if v.endswith(variable)]
            stored = np.concatenate([b.data for b in per_file[k]])
            assert stored.dtype == np.float64
            assert np.array_equal(stored, content[key][:, 0])


def test_femto_bearing3_1(shared_data: Path, tmp_path: Path, runner: CliRunner) -> None:
    project, report, asset = run_documented("femto", shared_data, tmp_path, runner)
    assert report["rows"] == 515 and report["rows_rejected"] == 0
    assert report["values_written"] == 515 and report["waveform_samples"] == 515 * 2560
    blocks = read_blocks(project, asset, "bearing_acc")
    assert len(blocks) == 515
    assert all(b.data.shape == (2560, 2) and b.sample_rate_hz == 25600 for b in blocks)
    starts = np.array([b.t0_ns for b in blocks])
    assert set(np.diff(starts).tolist()) == {10 * 10**9}
    assert starts[0] == to_ns("2011-01-01T09:10:39.118790Z")
    assert starts[-1] == to_ns("2011-01-01T10:36:19.118790Z")
    assert blocks[0].unit == "g"
    # the README: one 41 g peak at acc_00494, and the end of life is the last capture
    peaks = np.array([np.abs(b.data).max() for b in blocks])
    assert int(np.argmax(peaks)) == 493 and 40 < peaks[493] < 42
    assert not read_dead_letters(project)


def test_ims_second_test(shared_data: Path, tmp_path: Path, runner: CliRunner) -> None:
    project, report, asset = run_documented("ims", shared_data, tmp_path, runner)
    assert report["rows"] == 3 and report["values_written"] == 3
    blocks = read_blocks(project, asset, "bearing_acc")
    assert [b.t0_ns for b in blocks] == [
        to_ns("2004-02-12T10:32:39Z"),
        to_ns("2004-02-12T10:42:39Z"),
        to_ns("2004-02-19T06:22:39Z"),
    ]
    assert all(b.data.shape == (20480, 4) and b.sample_rate_hz == 20000 for b in blocks)
    rms = [np.sqrt(np.mean(b.data**2, axis=0)).round(3).tolist() for b in blocks]
    assert rms[0] == [0.074, 0.091, 0.109, 0.054]  # the README's table
    flat = blocks[2].data
    assert set(np.unique(flat).round(3).tolist()) <= {-0.005, -0.002, 0.0, 0.002}


def test_cnc_mill_experiments_and_table(
    shared_data: Path, tmp_path: Path, runner: CliRunner
) -> None:
    project, report, asset = run_documented("cnc_mill", shared_data, tmp_path, runner)
    assert len(report["files"]) == 18
    assert report["rows"] == 25_286 and report["rows_rejected"] == 0
    assert report["values_written"] == 25_286 * 6
    with gzip.open(shared_data / "cnc_mill" / "experiment_01.csv.gz", "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1055
    start = to_ns("2018-04-02T00:00:00Z")
    ts, values = read_scalars(project, asset, "x_position", start, start + 3600 * 10**9)
    assert len(values) == 1055
    assert ts[1] - ts[0] == 10**8
    assert values.tolist() == [float(r["X1_ActualPosition"]) for r in rows]
    ts, _ = read_scalars(project, asset, "spindle_current", start, start + 18 * 3600 * 10**9)
    assert len(ts) == 25_286
    _, table, _ = run_documented("cnc_mill_train", shared_data, tmp_path, runner, "cnc_mill")
    assert table["values_written"] == 18 * 3
    ts, values = read_scalars(project, asset, "experiment", 0, 2**62)
    assert values.tolist() == list(range(1, 19))
    assert (ts - start).tolist() == [k * 3600 * 10**9 for k in range(18)]


@pytest.mark.parametrize("name", ["cwru", "femto", "ims", "cnc_mill", "cnc_mill_train"])
def test_every_data_set_is_documented(name: str) -> None:
    snippet, command = documented(name)
    assert command.startswith("shopfloor ingest ../shared/data/")
    assert snippet is None or snippet.startswith("assets:\n")
