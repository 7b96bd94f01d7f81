"""NumPy recordings: .npy columns (memory-mapped), structured arrays, .npz by pattern."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopfloor.connectors.recordings import NpyReader, NpzReader, open_recording
from shopfloor.model import SignalRef

from .conftest import RIG, drain

START = "2024-05-01T00:00:00Z"
ACC = SignalRef(RIG, "acc")
ACC2 = SignalRef(RIG, "acc2")
OPTIONS = {"start": START, "rate_hz": 100}


def test_npy_columns_in_the_mapped_order(tmp_path: Path) -> None:
    path = tmp_path / "run.npy"
    data = np.arange(750, dtype=np.int16).reshape(250, 3)
    np.save(path, data)
    reader = open_recording(path, columns={"3": ACC, "2,1": ACC2}, options=OPTIONS)
    assert isinstance(reader, NpyReader)
    blocks, letters, rows = drain(reader)
    assert not letters and rows == 3
    acc = [b for b in blocks if b.signal == ACC]
    assert [b.n_samples for b in acc] == [100, 100, 50]
    assert acc[0].data.dtype == np.int16 and np.array_equal(acc[0].data, data[:100, 2])
    acc2 = [b for b in blocks if b.signal == ACC2]
    assert np.array_equal(acc2[2].data, data[200:, [1, 0]])


def test_npy_one_dimensional_and_channels_as_rows(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.arange(100.0))
    np.save(tmp_path / "rows.npy", np.arange(200.0).reshape(2, 100))
    blocks, _, _ = drain(open_recording(tmp_path / "one.npy", columns={"*": ACC}, options=OPTIONS))
    assert blocks[0].data.shape == (100,)
    blocks, _, _ = drain(
        open_recording(tmp_path / "rows.npy", columns={"*": ACC2}, options=OPTIONS)
    )
    assert blocks[0].data.shape == (100, 2) and blocks[0].data[0, 1] == 100.0


def test_structured_npy_fields_are_sources(tmp_path: Path) -> None:
    path = tmp_path / "fields.npy"
    data = np.zeros(100, dtype=[("x", "f4"), ("y", "f4")])
    data["y"] = 1.5
    np.save(path, data)
    blocks, letters, _ = drain(open_recording(path, columns={"y,x": ACC2}, options=OPTIONS))
    assert not letters and np.all(blocks[0].data[:, 0] == 1.5)


def test_npz_by_pattern_with_scale(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    np.savez_compressed(path, ch_a=np.ones(150), ch_b=np.full(150, 2.0), meta=np.array([1]))
    reader = open_recording(path, columns={"ch_*": ACC2}, options={**OPTIONS, "scale": 3})
    assert isinstance(reader, NpzReader)
    blocks, letters, _ = drain(reader)
    assert not letters and [b.n_samples for b in blocks] == [100, 50]
    assert np.all(blocks[0].data == [3.0, 6.0])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not numpy at all", "not a readable .npy file"),
        (None, "not a readable .npy file"),  # an object array: pickles are never loaded
    ],
)
def test_bad_npy_files_are_dead_letters(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "bad.npy"
    if content is None:
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(content)
    blocks, letters, rows = drain(open_recording(path, columns={"1": ACC}, options=OPTIONS))
    assert not blocks and rows == 1 and reason in letters[0].reason


def test_npz_missing_array_is_a_dead_letter(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    np.savez(path, a=np.ones(10))
    _, letters, _ = drain(open_recording(path, columns={"b": ACC}, options=OPTIONS))
    assert "no variable matches 'b' for signal 'acc' (variables: a)" in letters[0].reason
