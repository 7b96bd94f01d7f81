"""A platform crash (kill -9) or a clean stop leaves no silent hole in the stored data.

The CNC simulator runs as a real OPC UA server in its own process; ``shopfloor run`` runs
as a subprocess bound to it. The platform is killed mid-stream, stays down a few seconds,
restarts, stops cleanly, stays down again and restarts once more. Then, per signal, every
value the simulator served (its history buffer, read over OPC UA) between the first and
the last stored value is either stored (received live or backfilled) or lies inside a
recorded ``gap`` event whose bounds are the last stored value before it and the first
after it; nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from asyncua import Client

from shopfloor.config import load_project
from shopfloor.connectors.opcua.values import datetime_to_ns
from shopfloor.model import EventRecord, SignalRef
from shopfloor.node.lock import read_lock, read_token
from shopfloor.store import DuckDBStore
from shopfloor.store.remote import RemoteStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
SIGNALS = {  # name: (node, unit)
    "spindle_speed": ("ns=2;s=CNC01.Spindle.Speed", "rpm"),
    "spindle_temperature": ("ns=2;s=CNC01.Spindle.Temperature", "degC"),
}
NS = 1_000_000_000


WAVEFORM = """
      - name: spindle_accel
        kind: waveform
        unit: g
        sample_rate_hz: 25600
        channels: [x, y, z]
        connector: cnc
        source: CNC01.Vibration
        source_options:
          channel_nodes: ["ns=2;s=CNC01.Vibration.AccelX", "ns=2;s=CNC01.Vibration.AccelY",
                          "ns=2;s=CNC01.Vibration.AccelZ"]"""
BLOCK_NS = NS  # the simulator's default block length


def write_project(folder: Path, endpoint: str, *, history: bool, waveform: bool = False) -> None:
    signals = "\n".join(
        f"      - {{name: {name}, unit: {unit}, connector: cnc, source: {node!r}}}"
        for name, (node, unit) in SIGNALS.items()
    ) + (WAVEFORM if waveform else "")
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: crash-test}}
api: {{port: 0}}
assets:
  - path: {ASSET}
    signals:
{signals}
connectors:
  - name: cnc
    type: opcua
    endpoint: {endpoint}
    history_backfill: {str(history).lower()}
    watchdog_interval_s: 0.5
    request_timeout_s: 5
    reconnect: {{initial_s: 0.2, max_s: 1.0}}
"""
    )


@asynccontextmanager
async def simulator(log: Path) -> AsyncIterator[str]:
    """``shopfloor sim cnc --port 0`` in its own process; yields its endpoint."""
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shopfloor.sim.cnc", "--quiet", "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode()
        assert line.startswith("READY opc.tcp://127.0.0.1:"), (line, log.read_text())
        yield line.split()[1]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def start_platform(folder: Path, duration: str, log: Path) -> asyncio.subprocess.Process:
    """``shopfloor run --duration D`` on the project in ``folder``."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shopfloor.cli.main", "run", "--duration", duration,
            "--project", str(folder), stdout=out, stderr=out,
        )  # fmt: skip


async def wait_stored(folder: Path, proc: asyncio.subprocess.Process, n: int, log: Path) -> None:
    """Poll the running platform's API until every bound signal has ``n`` s of stored data."""
    project = load_project(folder)
    refs = [ref for ref, signal in project.config.iter_signals() if signal.connector]
    async with asyncio.timeout(60):
        while True:
            assert proc.returncode is None, log.read_text()
            lock = read_lock(project.state_dir)
            if lock is not None and lock.api_url is not None:
                store = RemoteStore(lock.api_url, token=read_token(project.state_dir))
                try:
                    await store.open()
                    spans = [await store.time_range(ref) for ref in refs]
                finally:
                    await store.close()
                if all(s is not None and s[1] - s[0] >= n * NS for s in spans):
                    return
            await asyncio.sleep(0.3)


async def served(endpoint: str, node: str, start_ns: int, end_ns: int) -> dict[int, float]:
    """What the simulator served on ``node`` in ``[start_ns, end_ns]`` (its history)."""
    async with Client(endpoint, timeout=10) as client:
        values = await client.get_node(node).read_raw_history(
            datetime.fromtimestamp(start_ns / NS - 1, UTC),
            datetime.fromtimestamp(end_ns / NS + 1, UTC),
        )
    out = {}
    for value in values:
        ns = datetime_to_ns(value.SourceTimestamp)
        raw = None if value.Value is None else value.Value.Value
        if isinstance(raw, list):  # a waveform block: its first sample stands for it
            raw = raw[0] if raw else None
        if ns is not None and start_ns <= ns <= end_ns and raw is not None:
            out[ns] = float(raw)
    return out


async def crash_stop_restart(folder: Path, log: Path) -> None:
    """kill -9 mid-stream, outage, restart, clean stop, outage, restart, clean stop."""
    # run 1: killed (SIGKILL) mid-stream, once values are stored
    first = await start_platform(folder, "120s", log)
    try:
        await wait_stored(folder, first, 2, log)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    await asyncio.sleep(4)  # the outage
    # run 2: comes back after the crash, then stops cleanly by itself
    second = await start_platform(folder, "6s", log)
    async with asyncio.timeout(60):
        assert await second.wait() == 0, log.read_text()
    await asyncio.sleep(3)  # the second outage, after a clean stop
    third = await start_platform(folder, "5s", log)
    async with asyncio.timeout(60):
        assert await third.wait() == 0, log.read_text()


@pytest.mark.parametrize("history", [True, False], ids=["backfilled", "gap-recorded"])
async def test_crash_and_clean_restart_leave_no_silent_hole(tmp_path: Path, history: bool) -> None:
    """Without history the outages must show as gap events; with it, as backfilled values."""
    folder = tmp_path / "project"
    folder.mkdir()
    log = tmp_path / "platform.log"
    async with simulator(tmp_path / "sim.log") as endpoint:
        write_project(folder, endpoint, history=history)
        await crash_stop_restart(folder, log)

        project = load_project(folder)
        store = DuckDBStore(project.store_path, project.config.store)
        await store.open()
        try:
            for name, (node, _) in SIGNALS.items():
                ref = SignalRef(ASSET, name)
                span = await store.time_range(ref)
                assert span is not None
                table = await store.read_scalars(ref, span[0], span[1] + 1)
                stamps = table.column("ts").cast("int64").to_numpy()
                values = table.column("value").to_numpy()
                gaps = await store.read_events(0, 2**62, ref=ref, kind="gap")
                truth = await served(endpoint, node, span[0], span[1])
                check_no_silent_hole(name, stamps, values, gaps, truth)
                # two outages: none recorded when history covers them, both otherwise
                assert len(gaps) == (0 if history else 2), (name, gaps)
        finally:
            await store.close()


async def test_crash_leaves_no_silent_hole_in_waveform_blocks(tmp_path: Path) -> None:
    """Blocks of a three-channel waveform are backfilled on every channel after a crash."""
    folder = tmp_path / "project"
    folder.mkdir()
    log = tmp_path / "platform.log"
    ref = SignalRef(ASSET, "spindle_accel")
    async with simulator(tmp_path / "sim.log") as endpoint:
        write_project(folder, endpoint, history=True, waveform=True)
        await crash_stop_restart(folder, log)
        project = load_project(folder)
        store = DuckDBStore(project.store_path, project.config.store)
        await store.open()
        try:
            span = await store.time_range(ref)
            assert span is not None
            blocks = await store.read_waveforms(ref, span[0], span[1] + 1)
            gaps = await store.read_events(0, 2**62, ref=ref, kind="gap")
        finally:
            await store.close()
        truth = await served(endpoint, "ns=2;s=CNC01.Vibration.AccelX", span[0], span[1])
    assert all(b.data.shape[1] == 3 for b in blocks)
    stamps = np.array([b.t0_ns for b in blocks], dtype=np.int64)
    firsts = np.array([b.data[0, 0] for b in blocks], dtype=np.float64)
    check_no_silent_hole("spindle_accel", stamps, firsts, gaps, truth, span_ns=BLOCK_NS)
    assert not gaps, gaps


def check_no_silent_hole(
    name: str,
    stamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    gaps: list[EventRecord],
    truth: dict[int, float],
    *,
    span_ns: int = 0,
) -> None:
    """Every served value is stored or inside a gap; no duplicates; gaps fit the hole.

    A gap starts at the last stored value, or for waveform blocks (each ``span_ns``
    long) where that block ends, and ends at the first stored value after it.
    """
    assert len(truth) > 20, f"{name}: the simulator served too little to judge"
    assert len(np.unique(stamps)) == len(stamps), f"{name}: a value is stored twice"
    stored = dict(zip(stamps.tolist(), values.tolist(), strict=True))
    bounds = []
    for gap in gaps:
        lo, hi = int(gap.attributes["from_ns"]), int(gap.attributes["to_ns"])
        start = lo if lo in stored else lo - span_ns
        assert start in stored, f"{name}: gap {lo}..{hi} does not start at a stored value"
        after = stamps[stamps > start]
        assert after.size, f"{name}: nothing stored after gap {lo}..{hi}"
        first_after = int(after[0])
        assert hi == first_after, f"{name}: gap {lo}..{hi} ends {hi - first_after} ns late"
        bounds.append((lo, hi))
    missing = [
        ts
        for ts in sorted(truth)
        if ts not in stored and not any(lo < ts < hi for lo, hi in bounds)
    ]
    assert not missing, (
        f"{name}: {len(missing)} served values neither stored nor in a gap, "
        f"from {missing[0]} to {missing[-1]}"
    )
    wrong = [ts for ts in stored if ts in truth and stored[ts] != pytest.approx(truth[ts])]
    assert not wrong, f"{name}: stored values differ from those served at {wrong[:5]}"
