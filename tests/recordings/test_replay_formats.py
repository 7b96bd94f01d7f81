"""The replay connector opens recordings through ``open_recording``: new formats work there."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.replay.client import ReplayConnector
from shopfloor.connectors.replay.config import ReplayConfig
from shopfloor.model import DeadLetter, Record, Signal, SignalRef, WaveformBlock, to_ns

from .conftest import RIG


async def replay(
    path: Path, address: str, signal: Signal, options: dict[str, object]
) -> tuple[list[Record], list[DeadLetter]]:
    emitted: list[Record] = []
    rejected: list[DeadLetter] = []

    async def emit(records: Sequence[Record]) -> None:
        emitted.extend(records)

    async def reject(letters: Sequence[DeadLetter]) -> None:
        rejected.extend(letters)

    config = ReplayConfig(
        name="rig-replay", path=str(path), speed="max", retime=False, options=options
    )
    bound = BoundSignal(SignalRef(RIG, signal.name), signal, address)
    connector = ReplayConnector(config, [bound], ConnectorContext(path.parent, emit, reject))
    await connector.connect()
    await connector.run()
    await connector.close()
    return emitted, rejected


async def test_replay_a_wav_file_as_two_channel_blocks(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    wavfile.write(path, 1000, np.zeros((2500, 2), dtype=np.int16))
    signal = Signal(name="acc2", kind="waveform", sample_rate_hz=1000, channels=["x", "y"])
    records, letters = await replay(path, "1,2", signal, {"start": "2024-05-01T00:00:00Z"})
    assert not letters and len(records) == 3
    assert all(isinstance(r, WaveformBlock) and r.n_channels == 2 for r in records)
    assert records[0].provenance.connector == "rig-replay"


async def test_replay_a_capture_folder_with_a_bad_capture(tmp_path: Path) -> None:
    folder = tmp_path / "2nd_test"
    folder.mkdir()
    for name in ("2004.02.12.10.32.39", "2004.02.12.10.42.39"):
        np.savetxt(folder / name, np.zeros((100, 4)), fmt="%.3f", delimiter="\t")
    (folder / "2004.02.12.10.52.39").write_text("0.1\t0.2\n")
    signal = Signal(name="b1", kind="waveform", sample_rate_hz=20000)
    options = {"rate_hz": 20000, "name_time_format": "%Y.%m.%d.%H.%M.%S"}
    records, letters = await replay(folder, "1", signal, options)
    assert [r.t0_ns for r in records if isinstance(r, WaveformBlock)] == [
        to_ns("2004-02-12T10:32:39Z"),
        to_ns("2004-02-12T10:42:39Z"),
    ]
    assert len(letters) == 1 and letters[0].location.endswith("2004.02.12.10.52.39")
