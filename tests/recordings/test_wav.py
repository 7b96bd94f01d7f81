"""WAV recordings: channels, rates from the header, full-scale scaling, blocks, bad files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from shopfloor.connectors.recordings import WavReader, open_recording
from shopfloor.errors import ConfigError
from shopfloor.model import SignalRef, WaveformBlock

from .conftest import RIG, by_signal, drain

START = "2024-05-01T00:00:00Z"
T0 = 1_714_521_600 * 10**9
ACC = SignalRef(RIG, "acc")
ACC2 = SignalRef(RIG, "acc2")


def write_wav24(path: Path, rate: int, samples: np.ndarray) -> None:
    """A 24-bit PCM WAV (scipy cannot write those): samples are int (n, channels)."""
    n, channels = samples.shape
    raw = samples.astype("<i4").view(np.uint8).reshape(n, channels, 4)[:, :, :3].tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 3 * channels, 3 * channels, 24)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(raw)) + raw
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_int16_two_channels_scaled_to_full_scale_and_cut_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    rate = 1000
    data = np.zeros((2500, 2), dtype=np.int16)
    data[:, 0] = 16384  # half of full scale
    data[:, 1] = -32768
    wavfile.write(path, rate, data)
    reader = open_recording(path, columns={"1": ACC, "2": ACC2}, options={"start": START})
    blocks, letters, rows = drain(reader)
    assert not letters and rows == 3
    acc = by_signal(blocks, "acc")
    assert [b.n_samples for b in acc] == [1000, 1000, 500]
    assert [b.t0_ns for b in acc] == [T0, T0 + 10**9, T0 + 2 * 10**9]
    assert acc[0].sample_rate_hz == 1000 and acc[0].data.dtype == np.float32
    assert np.all(acc[0].data == 0.5) and np.all(by_signal(blocks, "acc2")[0].data == -1.0)


def test_float32_three_channels_into_one_signal_in_the_mapped_order(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    data = np.tile(np.array([[0.1, 0.2, 0.3]], dtype=np.float32), (800, 1))
    wavfile.write(path, 400, data)
    reader = open_recording(
        path, columns={"3,1": ACC2}, options={"start": START, "block_s": 0.5, "scale": 10}
    )
    blocks, letters, _ = drain(reader)
    assert not letters and len(blocks) == 4
    assert blocks[0].data.shape == (200, 2) and blocks[0].sample_rate_hz == 400
    np.testing.assert_allclose(blocks[0].data[0], [3.0, 1.0], rtol=1e-6)


def test_all_channels_with_a_star_and_one_block_per_file(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    wavfile.write(path, 100, np.ones((250, 3), dtype=np.float32))
    blocks, _, _ = drain(
        open_recording(path, columns={"*": ACC2}, options={"start": START, "block_s": 0})
    )
    assert len(blocks) == 1 and blocks[0].data.shape == (250, 3)


def test_uint8_int32_and_24_bit(tmp_path: Path) -> None:
    wavfile.write(tmp_path / "u8.wav", 100, np.array([0, 128, 255], dtype=np.uint8))
    wavfile.write(tmp_path / "i32.wav", 100, np.array([2**30, -(2**31)], dtype=np.int32))
    write_wav24(tmp_path / "i24.wav", 100, np.array([[2**22, -(2**23)], [0, 2**23 - 1]]))
    expected = {
        "u8.wav": [-1.0, 0.0, 127 / 128],
        "i32.wav": [0.5, -1.0],
    }
    for name, values in expected.items():
        blocks, letters, _ = drain(
            open_recording(tmp_path / name, columns={"1": ACC}, options={"start": START})
        )
        assert not letters, letters
        np.testing.assert_allclose(blocks[0].data, values)
    blocks, letters, _ = drain(
        open_recording(tmp_path / "i24.wav", columns={"1,2": ACC2}, options={"start": START})
    )
    assert not letters
    np.testing.assert_allclose(blocks[0].data, [[0.5, -1.0], [0.0, (2**23 - 1) / 2**23]])


def test_rate_option_overrides_the_header(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    wavfile.write(path, 44100, np.zeros(51200, dtype=np.int16))
    reader = open_recording(path, columns={"1": ACC}, options={"start": START, "rate_hz": 51200})
    assert isinstance(reader, WavReader) and reader.sample_rate_hz == 51200
    blocks, _, _ = drain(reader)
    assert len(blocks) == 1 and blocks[0].sample_rate_hz == 51200


def test_corrupt_file_and_missing_channel_are_dead_letters(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    blocks, letters, rows = drain(open_recording(bad, columns={"1": ACC}, options={"start": START}))
    assert not blocks and rows == 1 and len(letters) == 1
    assert letters[0].location == str(bad) and "not a readable WAV file" in letters[0].reason
    good = tmp_path / "good.wav"
    wavfile.write(good, 100, np.zeros((10, 2), dtype=np.int16))
    blocks, letters, _ = drain(open_recording(good, columns={"3": ACC}, options={"start": START}))
    assert not blocks and "no channel matches '3'" in letters[0].reason


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "'start' is required"),
        ({"start": START, "speed": 2}, "unknown option(s) for a wav recording: speed"),
        ({"start": START, "block_s": -1}, "'block_s' must be a number >= 0"),
        ({"start": START, "scale": 0}, "'scale' must be a non-zero number"),
        ({"start": "yesterday"}, "option 'start'"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    path = tmp_path / "rec.wav"
    wavfile.write(path, 100, np.zeros(10, dtype=np.int16))
    with pytest.raises(ConfigError, match=None) as info:
        open_recording(path, columns={"1": ACC}, options=options)
    assert message in str(info.value)


def test_unknown_chunks_do_not_stop_the_read(tmp_path: Path) -> None:
    """Recorders add LIST/bext chunks; scipy warns about them, the reader carries on."""
    path = tmp_path / "rec.wav"
    wavfile.write(path, 100, np.zeros(100, dtype=np.int16))
    raw = path.read_bytes()
    at = raw.index(b"data")
    extra = b"LIST" + struct.pack("<I", 4) + b"INFO"
    body = raw[8:at] + extra + raw[at:]
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    blocks, letters, _ = drain(open_recording(path, columns={"1": ACC}, options={"start": START}))
    assert not letters and blocks[0].n_samples == 100


def test_a_long_wav_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """40 MB of int16 samples: memory-mapped, converted a chunk of blocks at a time."""
    import tracemalloc

    path = tmp_path / "long.wav"
    n = 10_000_000
    wavfile.write(path, 50_000, np.zeros((n, 2), dtype=np.int16))
    reader = open_recording(path, columns={"1,2": ACC2}, options={"start": START})
    tracemalloc.start()
    try:
        samples = 0
        for chunk in reader.chunks():
            samples += sum(b.n_samples for b in chunk.records if isinstance(b, WaveformBlock))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert samples == n
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB; the whole file as float32 is 76 MiB"
