"""``shopfloor ingest`` with waveform recordings: options, signal checks, errors, help."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat, wavfile
from typer.testing import CliRunner

from shopfloor.model import to_ns

from .conftest import RIG, ingest_json, invoke, read_blocks, read_dead_letters

START = "2024-05-01T00:00:00Z"
T0 = to_ns(START)


def test_wav_into_a_declared_two_channel_signal_by_channel_name(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "rec.wav"
    data = np.stack([np.full(2500, 1000), np.full(2500, -1000)], axis=1).astype(np.int16)
    wavfile.write(path, 1000, data)
    report = ingest_json(
        runner,
        project,
        str(path),
        "--asset",
        RIG,
        "--signal",
        "acc2",
        "--channels",
        "2=y,1=x",
        "--start",
        START,
        "--scale",
        "50",
    )
    assert report["values_written"] == 3 and report["waveform_blocks"] == 3
    assert report["waveform_samples"] == 2500 and report["rows_rejected"] == 0
    blocks = read_blocks(project, RIG, "acc2")
    assert [b.t0_ns - T0 for b in blocks] == [0, 10**9, 2 * 10**9]
    assert blocks[0].unit == "g" and blocks[0].data.shape == (1000, 2)
    np.testing.assert_allclose(blocks[0].data[0], [1000 / 32768 * 50, -1000 / 32768 * 50])


def test_mat_files_of_a_folder_with_rate_for_and_interval(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "mats"
    folder.mkdir()
    for name, number, n in (("12k_a_105.mat", 105, 3000), ("normal_97.mat", 97, 8000)):
        savemat(folder / name, {f"X{number:03d}_DE_time": np.ones((n, 1)), "RPM": 1797.0})
    (folder / "index.csv").write_text("not a mat file\n")
    report = ingest_json(
        runner,
        project,
        str(folder),
        "--format",
        "mat",
        "--asset",
        RIG,
        "--map",
        "*_DE_time=acc",
        "--rate",
        "1000",
        "--rate-for",
        "normal_*=4000",
        "--start",
        START,
        "--interval-s",
        "3600",
        "--block-s",
        "0.5",
    )
    assert report["files"] == [str(folder / "12k_a_105.mat"), str(folder / "normal_97.mat")]
    blocks = read_blocks(project, RIG, "acc")
    first = [b for b in blocks if b.t0_ns < T0 + 3600 * 10**9]
    second = [b for b in blocks if b.t0_ns >= T0 + 3600 * 10**9]
    assert [b.n_samples for b in first] == [500] * 6 and first[0].sample_rate_hz == 1000
    assert [b.n_samples for b in second] == [2000] * 4 and second[0].sample_rate_hz == 4000
    assert second[0].t0_ns == T0 + 3600 * 10**9 and second[1].t0_ns == second[0].t0_ns + 5 * 10**8


def test_create_waveform_signal_from_a_tar_of_captures_with_a_bad_member(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    archive = tmp_path / "run.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for k in range(4):
            rows = "\n".join(f"{k},{-k}" for _ in range(32)) if k != 2 else "1,2\n3\n"
            data = rows.encode()
            info = tarfile.TarInfo(f"run/snap_{k:02d}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    code, out = invoke(
        runner,
        "ingest",
        str(archive),
        "--asset",
        RIG,
        "--signal",
        "vib",
        "--channels",
        "1=a,2=b",
        "--rate",
        "3200",
        "--start",
        START,
        "--interval-s",
        "60",
        "-p",
        str(project),
    )
    assert code == 2 and "no signal 'vib'" in out and "--create" in out
    report = ingest_json(
        runner,
        project,
        str(archive),
        "--asset",
        RIG,
        "--signal",
        "vib",
        "--channels",
        "1=a,2=b",
        "--rate",
        "3200",
        "--start",
        START,
        "--interval-s",
        "60",
        "--create",
        "--unit",
        "m/s^2",
    )
    assert report["rows"] == 4 and report["rows_rejected"] == 1 and report["values_written"] == 3
    assert report["examples"][0]["location"] == f"{archive}/run/snap_02.txt:2"
    assert report["examples"][0]["reason"] == "line 2 has 1 fields, expected 2"
    blocks = read_blocks(project, RIG, "vib")
    assert [(b.t0_ns - T0) // 10**9 for b in blocks] == [0, 60, 180]
    assert blocks[1].data.shape == (32, 2) and blocks[1].unit == "m/s^2"
    letters = read_dead_letters(project)
    assert [d.location for d in letters] == [f"{archive}/run/snap_02.txt:2"]
    code, out = invoke(runner, "signals", "-p", str(project), "--json")
    assert '"kind": "waveform"' in out and "vib" in out


def test_npy_rate_defaults_to_the_declared_sample_rate(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1500, 3), dtype=np.float32))
    report = ingest_json(
        runner, project, str(path), "--asset", RIG, "--signal", "acc3", "--start", START
    )
    assert report["values_written"] == 2
    assert [b.sample_rate_hz for b in read_blocks(project, RIG, "acc3")] == [1000.0, 1000.0]


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        (["a.wav"], ["--signal", "acc"], "--start is required for wav files"),
        (["a.wav", "b.wav"], ["--signal", "acc", "--start", START], "--interval-s"),
        (["a.wav"], ["--signal", "acc", "--start", START, "--kind", "scalar"], "--kind scalar"),
        (["a.wav"], ["--signal", "acc", "--start", START, "--time-column", "t"], "--time-column"),
        (["a.wav"], ["--signal", "acc", "--start", START, "--rows", "3"], "only for captures"),
        (["a.wav"], ["--signal", "temp", "--start", START], "is scalar"),
        (
            ["a.wav"],
            ["--signal", "acc3", "--channels", "1,2", "--start", START],
            "has 3 channel(s)",
        ),
        (
            ["a.wav"],
            ["--signal", "acc2", "--channels", "1=x,2=q", "--start", START],
            "unknown: q; missing: y",
        ),
        (["a.wav"], ["--map", "1=acc", "--signal", "acc", "--start", START], "not both"),
        (["a.wav"], ["--map", "1", "--start", START], "write SOURCE=SIGNAL"),
        (["a.wav"], ["--signal", "acc", "--start", START, "--rate-for", "x"], "--rate-for"),
        (["a.mat"], ["--signal", "acc", "--start", START, "--rate", "10"], "--variables"),
        (
            ["a.mat"],
            ["--map", "x=acc", "--start", START, "--rate", "10", "--block-s", "-1"],
            "'block_s' must be a number >= 0",
        ),
        (["a.mat"], ["--map", "x=vib", "--start", START, "--create"], "--rate"),
        (["caps"], ["--signal", "acc", "--rate", "10"], "say when the captures were taken"),
        (["caps"], ["--signal", "acc", "--rate", "10", "--start", START], "needs --interval-s"),
        (["caps"], ["--signal", "acc", "--name-time-format", "%Y", "--block-s", "1"], "--block-s"),
        (
            ["caps"],
            ["--signal", "acc", "--time-columns", "1,2,3", "--date", "May 1"],
            "'date' must be a date",
        ),
        (["a.csv"], ["--signal", "temp", "--channels", "1"], "--channels/--variables"),
        (["a.csv", "a.wav"], ["--signal", "acc"], "not both"),
        (["a.wav"], ["--signal", "acc", "--format", "flac"], "--format must be one of"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    project: Path,
    runner: CliRunner,
    tmp_path: Path,
    files: list[str],
    args: list[str],
    message: str,
) -> None:
    wavfile.write(tmp_path / "a.wav", 1000, np.zeros((10, 2), dtype=np.int16))
    wavfile.write(tmp_path / "b.wav", 1000, np.zeros((10, 2), dtype=np.int16))
    savemat(tmp_path / "a.mat", {"x": np.zeros(10)})
    (tmp_path / "caps").mkdir()
    (tmp_path / "caps" / "2024").write_text("1\n")
    (tmp_path / "a.csv").write_text("time,v\n2024-01-01T00:00:00Z,1\n")
    paths = [str(tmp_path / f) for f in files]
    code, out = invoke(runner, "ingest", *paths, "--asset", RIG, *args, "-p", str(project))
    assert code == 2, out
    assert message in out


def test_help_documents_the_waveform_options(runner: CliRunner) -> None:
    code, out = invoke(runner, "ingest", "--help")
    assert code == 0
    for option in (
        "--format",
        "--channels",
        "variable",
        "--rate-for",
        "--interval-s",
        "--block-s",
        "--scale",
        "--name-time-format",
        "--time-columns",
        "--date",
        "--rows",
        "--files",
        "--kind",
        "captures",
    ):
        assert option in out, option
