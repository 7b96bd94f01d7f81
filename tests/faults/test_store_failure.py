"""A store that fails under the running platform: seen, journalled, recovered, nothing lost.

Data flows from a replay connector (a CSV whose values count 0, 1, 2, ...) through the
engine, the bus and the store sink into a store on a small disk that the test fills and
frees. Every check counts rows against what the source sent and looks for duplicates.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from shopfloor.config import load_project
from shopfloor.errors import StoreFailed
from shopfloor.model import (
    Provenance,
    Record,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
    to_ns,
    topic_for,
)
from shopfloor.node import Platform
from shopfloor.node.backends import create_bus
from shopfloor.node.lock import read_token
from shopfloor.store import DuckDBStore, WriteReport
from shopfloor.store.remote import RemoteStore

from .env import ASSET, SmallDisk, platform_on, replay_project, until, write_recording

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SPEED = SignalRef(ASSET, "speed")
N = 3000  # six seconds of the recording at 500 Hz


async def stored_values(platform: Platform) -> np.ndarray[Any, Any]:
    table = await platform.store.read_scalars(SPEED, 0, to_ns("2100-01-01T00:00:00Z"))
    return np.asarray(table.column("value").to_numpy())


def connector(status: dict[str, Any]) -> dict[str, Any]:
    health: dict[str, Any] = status["services"]["connectors"]["replay"]
    return health


async def fail_the_disk(platform: Platform, disk: SmallDisk) -> None:
    """Fill the disk once data flows; wait until health says so and the journal takes over."""

    async def flowing() -> bool:
        return await platform.store.count(SPEED) >= 200

    await until(flowing, 30, "the first rows in the store")
    disk.fill()

    async def failed() -> bool:
        return (await platform.status())["store"]["state"] == "failed"

    await until(failed, 30, "the store to be reported failed")

    async def journalling() -> bool:
        return connector(await platform.status())["journal"]["journaled"] > 0

    await until(journalling, 30, "the connector to divert to its journal")


def cli_status(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopfloor.cli.main", "status", *options, "-p", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_full_disk_is_shown_journalled_and_recovered_with_nothing_lost(
    tmp_path: Path, small_disk: SmallDisk
) -> None:
    folder = tmp_path / "plant"
    folder.mkdir()
    write_recording(folder / "source.csv", N)
    store_path = small_disk.mount / "store.duckdb"
    project = replay_project(folder, store_path, "source.csv")
    platform = platform_on(project, small_disk)
    await platform.start()
    try:
        await fail_the_disk(platform, small_disk)
        store = (await platform.status())["store"]
        assert store["reason"] == f"disk full at {store_path}"
        # the API and the CLI answer, without touching the failed store
        token = read_token(platform.project.state_dir)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=platform.api_url or "", timeout=10, headers=headers
        ) as client:
            response = await client.get("/api/v1/status")
        assert response.status_code == 200, response.text
        assert response.json()["store"]["state"] == "failed"
        assert response.json()["store"]["reason"] == f"disk full at {store_path}"
        done = await asyncio.to_thread(cli_status, folder, "--json")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert json.loads(done.stdout)["store"]["reason"] == f"disk full at {store_path}"
        done = await asyncio.to_thread(cli_status, folder)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert "store: failed: disk full at" in " ".join(done.stdout.split())
        remote = RemoteStore(platform.api_url or "", token=token)
        await remote.open()
        try:
            with pytest.raises(StoreFailed, match="disk full at"):
                await remote.stats()
        finally:
            await remote.close()

        async def source_done() -> bool:
            return connector(await platform.status())["state"] == "finished"

        await until(source_done, 60, "the whole recording to be sent")
        sent = connector(await platform.status())["values_in"]
        assert sent == N
        assert (await platform.status())["store"]["state"] == "failed"  # still full
        small_disk.free()

        async def all_stored() -> bool:
            status = await platform.status()
            return (
                status["store"]["state"] == "ok"
                and connector(status)["journal"]["pending"] == 0
                and platform.sink.pending == 0
                and await platform.store.count(SPEED) >= N
            )

        await until(all_stored, 90, f"all {N} values to be stored after the space returned")
        values = await stored_values(platform)
        assert np.array_equal(values, np.arange(N, dtype=float))  # 0 lost, no duplicates
        status = await platform.status()
        assert status["store"]["recoveries"] >= 1 and status["store"]["reason"] is None
        assert connector(status)["journal"]["replayed"] > 0
        assert connector(status)["journal"]["dropped"] == 0
    finally:
        await platform.stop()


async def test_stop_while_the_store_is_failed_spills_and_replays_at_next_start(
    tmp_path: Path, small_disk: SmallDisk
) -> None:
    folder = tmp_path / "plant"
    folder.mkdir()
    write_recording(folder / "source.csv", N)
    (folder / "empty.csv").write_text("time,speed\n")
    store_path = small_disk.mount / "store.duckdb"
    project = replay_project(folder, store_path, "source.csv")
    platform = platform_on(project, small_disk)
    await platform.start()
    try:
        await fail_the_disk(platform, small_disk)

        async def source_done() -> bool:
            return connector(await platform.status())["state"] == "finished"

        await until(source_done, 60, "the whole recording to be sent")
        assert platform.sink.pending > 0  # queued in the bus behind the failed store
    finally:
        await platform.stop()
    assert platform.sink.stats.spilled > 0
    small_disk.free()
    # the next run sends nothing new: what arrives comes from the spill and the journal
    again = platform_on(replay_project(folder, store_path, "empty.csv"), small_disk)
    await again.start()
    try:

        async def all_stored() -> bool:
            status = await again.status()
            return (
                status["store"]["spill"]["pending"] == 0
                and connector(status)["journal"]["pending"] == 0
                and again.sink.pending == 0
                and await again.store.count(SPEED) >= N
            )

        await until(all_stored, 90, f"all {N} values to be stored at the next start")
        assert (await again.status())["store"]["spill"]["replayed"] == platform.sink.stats.spilled
        values = await stored_values(again)
        assert np.array_equal(values, np.arange(N, dtype=float))  # 0 lost, no duplicates
    finally:
        await again.stop()


def memory_project(folder: Path) -> Platform:
    folder.mkdir()
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: faults}}
store: {{path: store.duckdb, memory_limit: 16MB}}
assets:
  - path: {ASSET}
    signals:
      - {{name: speed, unit: rpm}}
      - {{name: accel, kind: waveform, unit: g, sample_rate_hz: 25600, channels: [x, y, z]}}
"""
    )
    return Platform.from_project(load_project(folder), reopen_interval_s=0.3)


async def written_or_failed(platform: Platform, records: int) -> None:
    async def done() -> bool:
        if (await platform.status())["store"]["state"] == "failed":
            return True
        return platform.sink.pending == 0 and platform.sink.stats.records >= records

    await until(done, 120, "the big batches to be written (or the store to fail)")


async def test_memory_limit_spills(tmp_path: Path) -> None:
    """Scalar writes far bigger than ``store.memory_limit`` spill to disk, not fail."""
    platform = memory_project(tmp_path / "plant")
    await platform.start()
    try:
        n = 1_000_000  # 21 MB per batch, 16 MB of memory
        t0 = to_ns("2024-05-01T00:00:00Z")
        for k in range(3):
            ts = t0 + np.arange(k * n, (k + 1) * n, dtype=np.int64) * 10**6
            values = np.arange(k * n, (k + 1) * n, dtype=float)
            await platform.bus.publish(
                topic_for(SPEED), ScalarBatch.of(SPEED, ts, values, Provenance("t"))
            )
        await written_or_failed(platform, 3)
        assert (await platform.status())["store"]["state"] == "ok"
        assert platform.sink.stats.failures == 0, platform.sink.stats.last_error
        assert await platform.store.count(SPEED) == 3 * n
        assert await platform.store.count_dead_letters() == 0
    finally:
        await platform.stop()


async def test_memory_limit_spills_waveforms(tmp_path: Path) -> None:
    platform = memory_project(tmp_path / "plant")
    await platform.start()
    accel = SignalRef(ASSET, "accel")
    try:
        t0 = to_ns("2024-05-01T00:00:00Z")
        rng = np.random.default_rng(0)
        blocks = 100  # 300 KiB each: 30 MB
        for i in range(blocks):
            data = rng.standard_normal((25600, 3)).astype(np.float32)
            block = WaveformBlock(accel, t0 + i * 10**9, 25600.0, data, "g", Provenance("t"))
            await platform.bus.publish(topic_for(accel), block)
        await written_or_failed(platform, blocks)
        store = (await platform.status())["store"]
        assert store["state"] == "ok", store["reason"]
        assert await platform.store.count(accel) == blocks
        assert await platform.store.count_dead_letters() == 0
    finally:
        await platform.stop()


class HangingStore(DuckDBStore):
    """A store whose writes never return while ``hang`` is set (a stuck device)."""

    hang = False

    async def write(self, records: Sequence[Record]) -> WriteReport:
        if self.hang:
            await asyncio.Event().wait()
        return await super().write(records)


async def test_stop_with_a_hanging_store_spills_what_the_drain_left(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    folder.mkdir()
    write_recording(folder / "empty.csv", 0)
    project = replay_project(folder, folder / "store.duckdb", "empty.csv")

    def platform() -> tuple[Platform, HangingStore]:
        store = HangingStore(project.store_path, project.config.store)
        bus = create_bus(project.config.bus)
        return Platform(project, store, bus, drain_timeout_s=0.5), store

    first, store = platform()
    await first.start()
    store.hang = True
    t0 = to_ns("2024-05-01T00:00:00Z")
    for i in range(20):
        ts = [t0 + i * 10**6]
        await first.bus.publish(
            topic_for(SPEED), ScalarBatch.of(SPEED, ts, [float(i)], Provenance("t"))
        )
    await first.stop()
    assert first.sink.stats.spilled == 20
    second, _ = platform()
    await second.start()
    try:

        async def stored() -> bool:
            return await second.store.count(SPEED) >= 20

        await until(stored, 30, "the spilled values to be stored")
        assert np.array_equal(await stored_values(second), np.arange(20, dtype=float))
    finally:
        await second.stop()


async def test_the_embedded_store_on_a_full_disk_fails_by_name_and_reopens(
    small_disk: SmallDisk,
) -> None:
    """DuckDB's commit error on a full disk is a StoreFailed naming the path, not a
    "cannot rollback" TransactionException; once space returns, reopen brings it back."""
    if small_disk.injected:
        pytest.skip("needs a real tmpfs (mount refused here): the injected store is the fake")
    from shopfloor.model import Signal

    path = small_disk.mount / "store.duckdb"
    store = DuckDBStore(path)
    await store.open()
    try:
        await store.register_signals(ASSET, [Signal(name="speed")])
        t0 = to_ns("2024-05-01T00:00:00Z")

        def batch(start: int, n: int) -> ScalarBatch:
            ts = t0 + np.arange(start, start + n, dtype=np.int64) * 10**6
            return ScalarBatch.of(
                SPEED, ts, np.arange(start, start + n, dtype=float), Provenance("t")
            )

        await store.write([batch(0, 1000)])
        small_disk.fill()
        failure: StoreFailed | None = None
        for k in range(1, 50):  # until the file system refuses
            try:
                await store.write([batch(k * 1000, 1000)])
            except StoreFailed as err:
                failure = err
                break
        assert failure is not None and failure.reason == f"disk full at {path}"
        small_disk.free()
        await store.reopen()
        stored = await store.count(SPEED)
        assert stored >= 1000 and stored % 1000 == 0  # whole batches only
        await store.write([batch(100_000, 1000)])
        assert await store.count(SPEED) == stored + 1000
    finally:
        await store.close()
