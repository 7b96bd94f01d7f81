"""MATLAB .mat recordings: variables by name pattern, orientation, bad files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from shopfloor.connectors.recordings import open_recording
from shopfloor.errors import ConfigError
from shopfloor.model import SignalRef

from .conftest import RIG, by_signal, drain

START = "2024-05-01T00:00:00Z"
T0 = 1_714_521_600 * 10**9
ACC = SignalRef(RIG, "acc")
ACC2 = SignalRef(RIG, "acc2")
ACC3 = SignalRef(RIG, "acc3")


def cwru_like(path: Path, number: int, n: int, *, compress: bool = True) -> dict[str, np.ndarray]:
    """A file shaped like CWRU's: N x 1 float64 columns named after the file number."""
    rng = np.random.default_rng(number)
    content: dict[str, np.ndarray] = {
        f"X{number:03d}_DE_time": rng.normal(size=(n, 1)),
        f"X{number:03d}_FE_time": rng.normal(size=(n, 1)),
        f"X{number:03d}RPM": np.array([[1797]], dtype=np.uint16),
    }
    savemat(path, content, format="5", do_compression=compress)
    return content


def test_variables_by_glob_and_regex_bit_identical(tmp_path: Path) -> None:
    path = tmp_path / "105.mat"
    content = cwru_like(path, 105, 2500)
    reader = open_recording(
        path,
        fmt="mat",
        columns={"*_DE_time": ACC, r"re:X\d{3}_FE_time": SignalRef(RIG, "fe")},
        options={"start": START, "rate_hz": 1000},
    )
    blocks, letters, rows = drain(reader)
    assert not letters and rows == 3
    de = by_signal(blocks, "acc")
    assert [b.n_samples for b in de] == [1000, 1000, 500]
    assert [b.t0_ns for b in de] == [T0, T0 + 10**9, T0 + 2 * 10**9]
    joined = np.concatenate([b.data for b in de])
    assert joined.dtype == np.float64
    assert np.array_equal(joined, content["X105_DE_time"][:, 0])
    assert de[0].provenance.address.endswith("105.mat#X105_DE_time")
    assert len(by_signal(blocks, "fe")) == 3


def test_two_variables_into_one_two_channel_signal(tmp_path: Path) -> None:
    path = tmp_path / "a.mat"
    content = cwru_like(path, 7, 300, compress=False)
    blocks, letters, _ = drain(
        open_recording(
            path, columns={"*_DE_time,*_FE_time": ACC2}, options={"start": START, "rate_hz": 100}
        )
    )
    assert not letters and blocks[0].data.shape == (100, 2)
    assert np.array_equal(blocks[0].data[:, 1], content["X007_FE_time"][:100, 0])


@pytest.mark.parametrize(
    "array",
    [np.arange(50.0).reshape(1, 50), np.arange(50.0).reshape(50, 1)],
    ids=["1xN", "Nx1"],
)
def test_row_and_column_vectors(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "v.mat"
    savemat(path, {"sig": array})
    blocks, _, _ = drain(
        open_recording(path, columns={"sig": ACC}, options={"start": START, "rate_hz": 50})
    )
    assert len(blocks) == 1 and blocks[0].data.shape == (50,)
    assert np.array_equal(blocks[0].data, np.arange(50.0))


def test_n_by_c_array_is_c_channels_and_wide_arrays_are_transposed(tmp_path: Path) -> None:
    path = tmp_path / "m.mat"
    tall = np.arange(300.0).reshape(100, 3)
    savemat(path, {"tall": tall, "wide": tall.T.copy()})
    for name in ("tall", "wide"):
        blocks, letters, _ = drain(
            open_recording(
                path, columns={name: ACC3}, options={"start": START, "rate_hz": 100, "scale": 2}
            )
        )
        assert not letters and blocks[0].data.shape == (100, 3)
        assert np.array_equal(blocks[0].data, 2 * tall)


def test_problems_become_one_dead_letter_per_file(tmp_path: Path) -> None:
    odd = tmp_path / "odd.mat"
    savemat(
        odd,
        {
            "a_time": np.zeros((10, 1)),
            "b_time": np.zeros((12, 1)),
            "label": "inner race",
            "info": {"rpm": 1797},
        },
    )
    cases = {
        "nothing_*": "no variable matches 'nothing_*'",
        "a_time,b_time": "differ in length: a_time (10 samples), b_time (12 samples)",
        "label": "holds text, not numbers",
        "info": "holds a struct, not numbers",
    }
    for source, reason in cases.items():
        blocks, letters, rows = drain(
            open_recording(odd, columns={source: ACC2}, options={"start": START, "rate_hz": 10})
        )
        assert not blocks and rows == 1 and len(letters) == 1, source
        assert reason in letters[0].reason and letters[0].location == str(odd)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4)
    _, letters, _ = drain(
        open_recording(garbage, columns={"x": ACC}, options={"start": START, "rate_hz": 10})
    )
    assert "not a readable MATLAB file" in letters[0].reason


def test_v73_files_are_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "v73.mat"
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\0" * 8
    path.write_bytes(header + struct.pack("<H", 0x0200) + b"IM" + b"\0" * 512)
    _, letters, _ = drain(
        open_recording(path, columns={"x": ACC}, options={"start": START, "rate_hz": 10})
    )
    assert "MATLAB v7.3 (HDF5)" in letters[0].reason


def test_the_rate_is_required(tmp_path: Path) -> None:
    path = tmp_path / "v.mat"
    savemat(path, {"x": np.zeros(10)})
    with pytest.raises(ConfigError, match="'rate_hz' is required"):
        open_recording(path, columns={"x": ACC}, options={"start": START})
    with pytest.raises(ConfigError, match="not a regular expression"):
        open_recording(path, columns={"re:(": ACC}, options={"start": START, "rate_hz": 1})
