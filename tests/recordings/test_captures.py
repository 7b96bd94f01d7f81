"""Capture folders and tar archives: timing three ways, bad captures, damaged archives."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from shopfloor.connectors.recordings import CaptureReader, open_recording
from shopfloor.errors import ConfigError
from shopfloor.model import SignalRef, to_ns

from .conftest import RIG, drain

ACC = SignalRef(RIG, "acc")
ACC2 = SignalRef(RIG, "acc2")
ROWS = 64
FEMTO = {"rate_hz": 25600, "time_columns": "1,2,3,4", "date": "2011-01-01", "rows": ROWS}


def femto_capture(hour: int, minute: int, second: int, seed: int = 0) -> bytes:
    """A FEMTO-like capture: hour, minute, second, microsecond, h_acc, v_acc; no header."""
    rng = np.random.default_rng(seed)
    micro = 118790 + 39 * np.arange(ROWS)
    h, v = rng.normal(size=ROWS).round(3), rng.normal(size=ROWS).round(3)
    lines = [
        f"{hour},{minute},{second},{m:.4e},{a},{b}" for m, a, b in zip(micro, h, v, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def write_femto_folder(folder: Path, n: int, start_s: int = 9 * 3600) -> list[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        t = start_s + 10 * k
        data = femto_capture(t // 3600 % 24, t // 60 % 60, t % 60, seed=k)
        (folder / f"acc_{k + 1:05d}.csv").write_bytes(data)
        out.append(data)
    return out


def test_femto_like_folder_with_time_columns(tmp_path: Path) -> None:
    captures = write_femto_folder(tmp_path / "Bearing1_1", 5)
    reader = open_recording(tmp_path / "Bearing1_1", columns={"5": ACC2, "6": ACC2}, options=FEMTO)
    assert isinstance(reader, CaptureReader) and reader.total == sum(map(len, captures))
    blocks, letters, rows = drain(reader)
    assert not letters and rows == 5 and len(blocks) == 5
    t0 = to_ns("2011-01-01T09:00:00.118790Z")
    assert [b.t0_ns for b in blocks] == [t0 + k * 10 * 10**9 for k in range(5)]
    assert blocks[0].data.shape == (ROWS, 2) and blocks[0].sample_rate_hz == 25600
    first = np.loadtxt(io.BytesIO(captures[0]), delimiter=",")
    assert np.array_equal(blocks[0].data, first[:, 4:6])
    assert blocks[0].provenance.address.endswith("acc_00001.csv#5,6")


def test_bad_captures_become_dead_letters_naming_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    good = write_femto_folder(folder, 8)
    lines = good[2].decode().splitlines()
    (folder / "acc_00003.csv").write_text("\n".join(lines[:-5]) + "\n")  # too few rows
    lines = good[3].decode().splitlines()
    lines[6] = lines[6].rsplit(",", 1)[0] + ",abc"
    (folder / "acc_00004.csv").write_text("\n".join(lines) + "\n")  # not a number
    lines = good[4].decode().splitlines()
    lines[9] = lines[9] + ",1.0"
    (folder / "acc_00005.csv").write_text("\n".join(lines) + "\n")  # extra field on one line
    (folder / "acc_00006.csv").write_bytes(b"\x00\x01\x02binary")
    (folder / "acc_00007.csv").write_bytes(b"")
    lines = good[7].decode().splitlines()
    (folder / "acc_00008.csv").write_text("\n".join(x + ",0" for x in lines) + "\n")  # 7 cols
    (folder / ".DS_Store").write_bytes(b"\x00\x00")  # hidden: not a capture
    blocks, letters, rows = drain(open_recording(folder, columns={"5,6": ACC2}, options=FEMTO))
    assert rows == 8 and len(blocks) == 2 and len(letters) == 6
    by_file = {Path(d.detail["capture"]).name: d for d in letters}
    assert by_file["acc_00003.csv"].reason == f"has {ROWS - 5} rows, expected {ROWS}"
    assert by_file["acc_00004.csv"].location.endswith("acc_00004.csv:7")
    assert "column 6: 'abc' is not a number" in by_file["acc_00004.csv"].reason
    assert by_file["acc_00005.csv"].reason == "line 10 has 7 fields, expected 6"
    assert by_file["acc_00006.csv"].reason == "binary data, not a text table"
    assert by_file["acc_00007.csv"].reason == "the file is empty"
    assert "has 7 columns, expected 6 (as acc_00001.csv)" in by_file["acc_00008.csv"].reason


def test_a_run_past_midnight_moves_to_the_next_day(tmp_path: Path) -> None:
    folder = tmp_path / "night"
    write_femto_folder(folder, 3, start_s=24 * 3600 - 10)
    blocks, letters, _ = drain(open_recording(folder, columns={"5": ACC}, options=FEMTO))
    assert not letters
    t0 = to_ns("2011-01-01T23:59:50.118790Z")
    assert [b.t0_ns - t0 for b in blocks] == [0, 10 * 10**9, 20 * 10**9]


def test_impossible_time_of_day_is_a_dead_letter(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "a.csv").write_bytes(femto_capture(25, 0, 0))
    (folder / "b.csv").write_bytes(femto_capture(9, 0, 0))
    blocks, letters, _ = drain(open_recording(folder, columns={"5": ACC}, options=FEMTO))
    assert len(blocks) == 1
    assert letters[0].reason == "column 1: 25.0 is not a hour (0 to 23)"
    assert letters[0].location.endswith("a.csv:1")


def ims_like(folder: Path, names: list[str], rows: int = 200) -> None:
    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        data = np.full((rows, 4), 0.001 * i).round(3)
        np.savetxt(folder / name, data, fmt="%.3f", delimiter="\t")


def test_time_from_file_names_and_a_bad_name(tmp_path: Path) -> None:
    names = ["2004.02.12.10.32.39", "2004.02.12.10.42.39", "2004.02.19.06.22.39", "notes.txt"]
    ims_like(tmp_path / "2nd_test", names)
    options = {"rate_hz": 20000, "name_time_format": "%Y.%m.%d.%H.%M.%S"}
    blocks, letters, rows = drain(
        open_recording(
            tmp_path / "2nd_test", columns={"*": SignalRef(RIG, "acc4")}, options=options
        )
    )
    assert rows == 4 and len(blocks) == 3 and len(letters) == 1
    assert [b.t0_ns for b in blocks] == [
        to_ns("2004-02-12T10:32:39Z"),
        to_ns("2004-02-12T10:42:39Z"),
        to_ns("2004-02-19T06:22:39Z"),
    ]
    assert blocks[0].data.shape == (200, 4)
    assert "file name 'notes.txt' does not match" in letters[0].reason
    # the pattern may leave out the extension, and local time is converted to UTC
    ims_like(tmp_path / "local", ["rec_20240501_080000.csv"])
    options = {"rate_hz": 100, "name_time_format": "rec_%Y%m%d_%H%M%S", "timezone": "Europe/Berlin"}
    blocks, _, _ = drain(open_recording(tmp_path / "local", columns={"1": ACC}, options=options))
    assert blocks[0].t0_ns == to_ns("2024-05-01T06:00:00Z")


def test_interval_timing_follows_natural_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "snap"
    folder.mkdir()
    for k in (10, 2, 1):
        (folder / f"snap_{k}.txt").write_text(f"{k}\n{k}\n")
    options = {"rate_hz": 10, "start": "2024-01-01T00:00:00Z", "interval_s": 60}
    blocks, _, _ = drain(open_recording(folder, columns={"1": ACC}, options=options))
    t0 = to_ns("2024-01-01T00:00:00Z")
    assert [(b.t0_ns - t0) // 10**9 for b in blocks] == [0, 60, 120]
    assert [b.data[0] for b in blocks] == [1.0, 2.0, 10.0]


def test_header_names_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    folder = tmp_path / "analyser"
    folder.mkdir()
    (folder / "m1.csv").write_text("t;Acc X;Acc Y\n0;1,5;-2,25\n1;0,5;0,25\n")
    options = {
        "rate_hz": 2,
        "start": "2024-01-01T00:00:00Z",
        "interval_s": 1,
        "header": True,
        "decimal": ",",
    }
    blocks, letters, _ = drain(
        open_recording(folder, columns={"Acc X,Acc Y": ACC2}, options=options)
    )
    assert not letters and blocks[0].data.tolist() == [[1.5, -2.25], [0.5, 0.25]]


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def femto_members(n: int) -> dict[str, bytes]:
    out = {}
    for k in range(n):
        t = 9 * 3600 + 10 * k
        out[f"Bearing1_1/acc_{k + 1:05d}.csv"] = femto_capture(
            t // 3600, t // 60 % 60, t % 60, seed=k
        )
    return out


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.xz", ".tar.bz2", ".tar"])
def test_archive_read_without_unpacking_with_a_bad_member(tmp_path: Path, suffix: str) -> None:
    members = femto_members(6)
    members["Bearing1_1/acc_00004.csv"] = b"9,0,30,1e5,0.1,oops\n" * ROWS
    members["Bearing1_1/temp_00001.csv"] = b"9;0;30;1e5;35.2\n"
    archive = tmp_path / f"Bearing1_1{suffix}"
    make_tar(archive, members, mode="w:" + {".tar": ""}.get(suffix, suffix.rsplit(".", 1)[1]))
    options = {**FEMTO, "files": "acc_*.csv"}
    reader = open_recording(archive, columns={"5,6": ACC2}, options=options)
    blocks, letters, rows = drain(reader)
    assert rows == 6 and len(blocks) == 5 and len(letters) == 1
    assert letters[0].location == f"{archive}/Bearing1_1/acc_00004.csv:1"
    assert "column 6: 'oops' is not a number" in letters[0].reason
    assert blocks[0].provenance.address == f"{archive}/Bearing1_1/acc_00001.csv#5,6"


def test_archive_interval_timing_uses_name_order(tmp_path: Path) -> None:
    members = dict(reversed(list(femto_members(3).items())))
    archive = tmp_path / "b.tar.xz"
    make_tar(archive, members, mode="w:xz")
    options = {"rate_hz": 25600, "start": "2011-01-01T00:00:00Z", "interval_s": 10}
    blocks, _, _ = drain(open_recording(archive, columns={"5": ACC}, options=options))
    t0 = to_ns("2011-01-01T00:00:00Z")
    by_member = {b.provenance.address.split("/")[-1]: b.t0_ns - t0 for b in blocks}
    assert by_member == {
        "acc_00003.csv#5": 20 * 10**9,
        "acc_00002.csv#5": 10 * 10**9,
        "acc_00001.csv#5": 0,
    }


def test_archive_cut_short_keeps_what_was_read(tmp_path: Path) -> None:
    archive = tmp_path / "cut.tar.gz"
    make_tar(archive, femto_members(20))
    raw = archive.read_bytes()
    archive.write_bytes(raw[: len(raw) // 2])
    blocks, letters, _ = drain(open_recording(archive, columns={"5": ACC}, options=FEMTO))
    assert 0 < len(blocks) < 20 and len(letters) == 1
    assert letters[0].detail["category"] == "corrupt_archive"
    assert "could not be read" in letters[0].reason or "cut short" in letters[0].reason


def test_corrupt_header_in_the_middle_is_reported(tmp_path: Path) -> None:
    archive = tmp_path / "hdr.tar"
    make_tar(archive, femto_members(5), mode="w")
    with tarfile.open(archive) as tar:
        offset = tar.getmembers()[3].offset
    raw = bytearray(archive.read_bytes())
    raw[offset : offset + 512] = b"garbage!" * 64
    archive.write_bytes(bytes(raw))
    blocks, letters, _ = drain(open_recording(archive, columns={"5": ACC}, options=FEMTO))
    assert len(blocks) == 3 and len(letters) == 1
    assert "corrupt tar header after member 'Bearing1_1/acc_00003.csv'" in letters[0].reason


def test_links_in_an_archive_and_files_that_are_not_archives(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = femto_capture(9, 0, 0)
        info = tarfile.TarInfo("acc_00001.csv")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("acc_00002.csv")
        link.type = tarfile.SYMTYPE
        link.linkname = "acc_00001.csv"
        tar.addfile(link)
    blocks, letters, _ = drain(open_recording(archive, columns={"5": ACC}, options=FEMTO))
    assert len(blocks) == 1 and "not a regular file" in letters[0].reason
    fake = tmp_path / "fake.tar.gz"
    fake.write_bytes(b"not an archive")
    blocks, letters, rows = drain(open_recording(fake, columns={"5": ACC}, options=FEMTO))
    assert not blocks and rows == 1 and "not a readable tar archive" in letters[0].reason
    plain = tmp_path / "notes.bin"
    plain.write_bytes(b"just bytes")
    with pytest.raises(ConfigError, match="folder or a tar archive"):
        open_recording(plain, fmt="captures", columns={"5": ACC}, options=FEMTO)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_hz": 10}, "time the captures one way"),
        (
            {"rate_hz": 10, "start": "2024-01-01", "interval_s": 1, "name_time_format": "%Y"},
            "time the captures one way",
        ),
        ({"rate_hz": 10, "time_columns": "1,2,3"}, "need a date"),
        ({"rate_hz": 10, "time_columns": "1,2", "date": "2011-01-01"}, "3 or 4 columns"),
        ({"rate_hz": 10, "start": "2024-01-01"}, "start and interval_s go together"),
        ({"rate_hz": 10, "name_time_format": "plain"}, "no % directive"),
        ({"rate_hz": 10, "name_time_format": "%Y%Y"}, "not a strptime pattern"),
        ({"name_time_format": "%Y"}, "'rate_hz' is required"),
        ({"rate_hz": 10, "name_time_format": "%Y", "delimiter": "#"}, "'delimiter' must be"),
        ({"rate_hz": 10, "name_time_format": "%Y", "date": "01/02/2011"}, "'date' must be"),
        ({"rate_hz": 10, "name_time_format": "%Y", "timezone": "Mars/Base"}, "'timezone'"),
        ({"rate_hz": 10, "name_time_format": "%Y", "rows": 0}, "'rows' must be"),
        ({"rate_hz": 10, "name_time_format": "%Y", "colour": 1}, "unknown option(s)"),
    ],
)
def test_bad_capture_options(tmp_path: Path, options: dict[str, object], message: str) -> None:
    (tmp_path / "c").mkdir()
    with pytest.raises(ConfigError) as info:
        open_recording(tmp_path / "c", columns={"1": ACC}, options=options)
    assert message in str(info.value)
