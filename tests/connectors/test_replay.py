"""The replay connector paces a recording: its signals interleaved, resumable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.replay.client import ReplayConnector
from shopfloor.connectors.replay.config import ReplayConfig
from shopfloor.errors import ConnectorNotReady
from shopfloor.model import Record, ScalarBatch, Signal, SignalRef

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def recording(folder: Path, rows: int) -> Path:
    path = folder / "two.csv"
    t0 = np.datetime64("2024-05-01T00:00:00", "ms")
    lines = [f"{t0 + np.timedelta64(100 * i, 'ms')}Z,{i},{-i}" for i in range(rows)]
    path.write_text("time,a,b\n" + "\n".join(lines) + "\n")
    return path


def connector(path: Path, emitted: list[Record], speed: float = 1000.0) -> ReplayConnector:
    async def emit(records: Sequence[Record]) -> None:
        emitted.extend(records)

    async def reject(letters: object) -> None:
        raise AssertionError(letters)

    config = ReplayConfig(
        name="rep", path=path.name, speed=speed, retime=False, options={"time_column": "time"}
    )
    signals = [BoundSignal(SignalRef(ASSET, name), Signal(name=name), name) for name in ("a", "b")]
    return ReplayConnector(
        config, signals, ConnectorContext(path.parent, emit, reject, root=path.parent)
    )


async def test_paced_replay_interleaves_its_signals_by_time(tmp_path: Path) -> None:
    """Before: a paced two-column recording emitted all of column a, then all of b."""
    emitted: list[Record] = []
    replay = connector(recording(tmp_path, 50), emitted, speed=10.0)  # 1 s slices
    await replay.connect()
    await replay.run()
    firsts = [int(r.ts_ns[0]) for r in emitted if isinstance(r, ScalarBatch)]
    assert firsts == sorted(firsts)
    assert {r.signal.name for r in emitted[:4]} == {"a", "b"}


async def test_replay_resumes_where_it_stopped_without_duplicates(tmp_path: Path) -> None:
    """A recording that disappears mid-replay is a lost source; after it is back the
    replay goes on from the slice it stopped at."""
    emitted: list[Record] = []
    path = recording(tmp_path, 40)
    replay = connector(path, emitted, speed=1.0)  # one row of each column per 0.1 s
    await replay.connect()
    task = asyncio.create_task(replay.run())
    for _ in range(1000):
        if len(emitted) >= 10:
            break
        await asyncio.sleep(0.01)
    path.rename(tmp_path / "away.csv")
    with pytest.raises(ConnectorNotReady, match="disappeared while replaying"):
        await asyncio.wait_for(task, 10)
    (tmp_path / "away.csv").rename(path)
    await replay.connect()
    await replay.run()
    for name, sign in (("a", 1), ("b", -1)):
        values = np.concatenate(
            [r.values for r in emitted if isinstance(r, ScalarBatch) and r.signal.name == name]
        )
        np.testing.assert_array_equal(values, sign * np.arange(40.0))
