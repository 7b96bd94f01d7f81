"""Reconnects against the simulated CNC: backfill, gap events, no repeated state events.

The connector is driven as the engine drives it (``connect``, ``close``, ``connect``),
with a context that keeps what it is handed, so each record can be checked.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.opcua.client import OpcUaConnector
from shopfloor.connectors.opcua.config import OpcUaConfig
from shopfloor.model import (
    DeadLetter,
    EventRecord,
    Record,
    ScalarBatch,
    Signal,
    SignalRef,
    WaveformBlock,
    now_ns,
)
from shopfloor.sim.cnc import CncSimConfig, CncSimServer

from .opcua_env import ASSET

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NS = 1_000_000_000


class Recorder:
    """A connector context that keeps every record and dead letter."""

    def __init__(self, folder: Path) -> None:
        self.records: list[Record] = []
        self.letters: list[DeadLetter] = []
        self.context = ConnectorContext(state_dir=folder, emit=self.emit, reject=self.reject)

    async def emit(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    async def reject(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    def blocks(self, name: str) -> list[WaveformBlock]:
        found = [r for r in self.records if isinstance(r, WaveformBlock) and r.signal.name == name]
        return sorted(found, key=lambda b: b.t0_ns)

    def scalar_ts(self, name: str) -> np.ndarray:
        parts = [
            r.ts_ns for r in self.records if isinstance(r, ScalarBatch) and r.signal.name == name
        ]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def events(self, name: str, kind: str) -> list[EventRecord]:
        found = [
            r
            for r in self.records
            if isinstance(r, EventRecord) and r.signal.name == name and r.kind == kind
        ]
        return sorted(found, key=lambda e: e.ts_ns)


def bound(sim: CncSimServer, name: str, node: str, **definition: Any) -> BoundSignal:
    options = definition.pop("options", {})
    return BoundSignal(
        SignalRef(ASSET, name), Signal(name=name, **definition), sim.node_id(node), options
    )


def signals(sim: CncSimServer) -> list[BoundSignal]:
    axes = [sim.node_id(f"Vibration.Accel{a}") for a in "XYZ"]
    return [
        bound(sim, "spindle_speed", "Spindle.Speed", unit="rpm"),
        bound(sim, "program_number", "Program.Number"),
        bound(sim, "program_state", "Program.State", kind="event"),
        bound(
            sim,
            "spindle_accel",
            "Vibration.AccelX",
            kind="waveform",
            unit="g",
            sample_rate_hz=25600,
            channels=["x", "y", "z"],
            options={"channel_nodes": axes},
        ),
    ]


def connector(sim: CncSimServer, recorder: Recorder, **settings: Any) -> OpcUaConnector:
    config = OpcUaConfig(
        name="cnc",
        endpoint=sim.endpoint_url,
        watchdog_interval_s=0.5,
        request_timeout_s=3,
        **settings,
    )
    return OpcUaConnector(config, signals(sim), recorder.context)


async def until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


async def outage(
    conn: OpcUaConnector,
    recorder: Recorder,
    name: str,
    pause_s: float,
    *,
    n: int = 3,
    before: Callable[[], None] | None = None,
) -> None:
    """Connect; after ``n`` live values of ``name``, close for ``pause_s``; ``before`` the
    reconnect, call ``before``; connect again until ``n`` more values came; close."""
    await conn.connect()
    try:
        await until(lambda: recorder.scalar_ts(name).size >= n, 20, "live values")
        await conn.close()
        await asyncio.sleep(pause_s)
        if before is not None:
            before()
        await conn.connect()
        seen = recorder.scalar_ts(name).size
        await until(lambda: recorder.scalar_ts(name).size >= seen + n, 20, "values after")
    finally:
        await conn.close()


def assert_every_tick_once(recorder: Recorder, name: str) -> None:
    """``name`` holds one value every 100 ms, none twice."""
    ts = recorder.scalar_ts(name)
    assert np.unique(ts).size == ts.size, f"{name}: a value was recorded twice"
    assert np.array_equal(np.diff(ts), np.full(ts.size - 1, NS // 10)), (name, np.diff(ts))


async def test_multi_channel_backfill_reads_every_channel(tmp_path: Path) -> None:
    """Away for 3.5 s while the server keeps running: every channel comes from history."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await conn.connect()
        try:
            await until(lambda: len(recorder.blocks("spindle_accel")) >= 2, 20, "live blocks")
            await conn.close()
            await asyncio.sleep(3.5)
            await conn.connect()
            await until(
                lambda: any(b.provenance.backfilled for b in recorder.blocks("spindle_accel")),
                20,
                "backfilled blocks",
            )
            await asyncio.sleep(1.5)
        finally:
            await conn.close()
    assert not [d for d in recorder.letters if "incomplete block" in d.reason], recorder.letters
    blocks = recorder.blocks("spindle_accel")
    assert sum(b.provenance.backfilled for b in blocks) >= 3
    assert all(b.data.shape == (25600, 3) for b in blocks)
    starts = np.array([b.t0_ns for b in blocks])
    assert np.array_equal(np.diff(starts), np.full(starts.size - 1, NS)), "a block is missing"
    assert not recorder.events("spindle_accel", "gap")


async def test_an_unchanged_value_arrives_every_sample_live_and_from_history(
    tmp_path: Path,
) -> None:
    """Program.Number never changes: every 100 ms tick is recorded, across an outage too."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await outage(conn, recorder, "program_number", 1.5, n=5)
    assert_every_tick_once(recorder, "program_number")
    assert not recorder.events("program_number", "gap")


def slow_subscriptions(monkeypatch: pytest.MonkeyPatch, conn: OpcUaConnector) -> None:
    """Half a second passes before each subscription is created, as on a loaded machine."""
    subscribe = conn._subscribe

    async def slowly(node_ids: list[str], queue_maxsize: int) -> Any:
        await asyncio.sleep(0.5)
        return await subscribe(node_ids, queue_maxsize)

    monkeypatch.setattr(conn, "_subscribe", slowly)


async def test_no_value_is_lost_between_backfill_and_subscription(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values published while the subscription is set up are read from history too."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await outage(
            conn,
            recorder,
            "spindle_speed",
            1.5,
            before=lambda: slow_subscriptions(monkeypatch, conn),
        )
    for name in ("spindle_speed", "program_number"):
        assert_every_tick_once(recorder, name)
        assert not recorder.events(name, "gap")


async def test_gap_without_history_ends_at_the_first_value_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No history: the gap ends exactly at the first value after it, however long after
    the reconnect the subscription delivers that value."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder, history_backfill=False)
        await outage(
            conn,
            recorder,
            "spindle_speed",
            2.5,
            before=lambda: slow_subscriptions(monkeypatch, conn),
        )
    for name in ("spindle_speed", "program_number"):
        ts = recorder.scalar_ts(name)
        (gap,) = recorder.events(name, "gap")
        lo, hi = gap.attributes["from_ns"], gap.attributes["to_ns"]
        i = int(np.argmax(np.diff(ts)))
        assert hi == ts[i + 1], (name, hi - ts[i + 1])
        # it starts when data stopped flowing: at the last value's arrival, not before it
        assert ts[i] <= lo < ts[i] + NS // 10, (name, lo - ts[i])
        assert gap.attributes["seconds"] == round((hi - lo) / NS, 3)


async def test_backfill_follows_continuation_points_of_short_answers(tmp_path: Path) -> None:
    """The server answers at most 4 values a request: the backfill still reads them all."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        sim._history.max_history_data_response_size = 4
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await outage(conn, recorder, "spindle_speed", 1.5)
    assert_every_tick_once(recorder, "spindle_speed")
    assert conn.stats["backfilled"] >= 10


async def test_gap_after_a_server_restart_covers_the_stored_hole(tmp_path: Path) -> None:
    """The server is down for 3 s: each signal's gap spans exactly what is missing."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await conn.connect()
        try:
            await until(lambda: len(recorder.blocks("spindle_accel")) >= 2, 20, "live blocks")
            closed_at = now_ns()
            await conn.close()
            await sim.stop()
            await asyncio.sleep(3.0)
            await sim.start()
            await conn.connect()
            await until(lambda: len(recorder.events("spindle_accel", "gap")) == 1, 20, "a gap")
            await asyncio.sleep(2.5)
        finally:
            await conn.close()
    assert not [d for d in recorder.letters if "incomplete block" in d.reason], recorder.letters
    (gap,) = recorder.events("spindle_accel", "gap")
    starts = np.array([b.t0_ns for b in recorder.blocks("spindle_accel")])
    i = int(np.argmax(np.diff(starts)))
    hole_from, hole_to = starts[i] + NS, starts[i + 1]  # the last block ends a second later
    assert hole_to - hole_from >= 2 * NS
    assert gap.attributes["from_ns"] <= hole_from + NS // 2
    assert gap.attributes["to_ns"] >= hole_to
    assert gap.attributes["seconds"] >= (hole_to - hole_from) / NS
    ts = recorder.scalar_ts("spindle_speed")
    i = int(np.argmax(np.diff(ts)))
    (speed_gap,) = recorder.events("spindle_speed", "gap")
    # a scalar holds its value until it changes (the spindle may be at rest): its hole
    # starts when the connection stopped delivering, not at its last stored change
    # (on the server's clock, whose timestamps may lead the client's by a timer tick)
    assert ts[i] <= speed_gap.attributes["from_ns"] <= closed_at + 10_000_000
    assert speed_gap.attributes["to_ns"] >= ts[i + 1]


async def test_gap_of_a_slow_node_counts_from_the_connection_loss(tmp_path: Path) -> None:
    """Program.Number never changes: its gap is the outage, not the time since its change."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        await asyncio.sleep(2.0)  # the node's value (and source timestamp) is now 2 s old
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder, history_backfill=False)
        connected_at = now_ns()
        await conn.connect()
        try:
            await until(lambda: recorder.scalar_ts("program_number").size >= 1, 20, "a value")
            await asyncio.sleep(2.0)
            closed_at = now_ns()
            await conn.close()
            await asyncio.sleep(2.5)
            reopened_at = now_ns()
            await conn.connect()
        finally:
            await conn.close()
    (gap,) = recorder.events("program_number", "gap")
    assert gap.attributes["from_ns"] >= connected_at, "the gap starts before the platform ran"
    assert closed_at - NS <= gap.attributes["from_ns"] <= closed_at
    assert gap.attributes["to_ns"] >= reopened_at
    outage_s = (reopened_at - closed_at) / NS
    assert gap.attributes["seconds"] < outage_s + 1.5


async def test_gap_start_does_not_follow_a_client_clock_ahead_of_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's clock runs 1.5 s ahead: every tick is still stored or inside the gap."""
    from shopfloor.connectors.opcua import client

    monkeypatch.setattr(client, "now_ns", lambda: now_ns() + 3 * NS // 2)
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder, history_backfill=False)
        await outage(conn, recorder, "spindle_speed", 2.5)
    ts = recorder.scalar_ts("spindle_speed")
    (gap,) = recorder.events("spindle_speed", "gap")
    lo, hi = gap.attributes["from_ns"], gap.attributes["to_ns"]
    ticks = np.arange(ts[0], ts[-1] + 1, NS // 10)
    silent = [t for t in ticks if t not in set(ts.tolist()) and not lo < t < hi]
    assert not silent, f"{len(silent)} ticks neither recorded nor in the gap {lo}..{hi}"


async def test_state_events_are_not_recorded_again_after_a_resubscribe(tmp_path: Path) -> None:
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await conn.connect()
        try:
            await until(lambda: bool(recorder.events("program_state", "value_change")), 20, "state")
            for _ in range(2):
                await conn.close()
                await conn.connect()
            await asyncio.sleep(1.0)
        finally:
            await conn.close()
    events = recorder.events("program_state", "value_change")
    messages = [e.message for e in events]
    repeats = [a for a, b in itertools.pairwise(messages) if a == b]
    assert not repeats, messages
    timestamps = [e.ts_ns for e in events]
    assert len(set(timestamps)) == len(timestamps)


async def test_state_change_inside_an_outage_keeps_its_source_time(tmp_path: Path) -> None:
    """A short machining cycle, so the program state changes while the connector is away."""
    program = {
        "idle_s": 2.0,
        "tool_change_s": 2.0,
        "roughing_s": 5.0,
        "finishing_s": 5.0,
        "spindle_accel_rpm_s": 60000.0,
    }
    async with CncSimServer(CncSimConfig(port=0, program=program)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await conn.connect()
        try:
            await until(lambda: bool(recorder.events("program_state", "value_change")), 20, "state")
            await conn.close()
            left_at = now_ns()
            step = NS // 10  # the simulator publishes scalars on a 0.1 s grid
            t = (left_at // step + 1) * step
            state = sim.model.state_at(t).node_values()["Program.State"]
            while sim.model.state_at(t).node_values()["Program.State"] == state:
                t += step
            changed_at, new_state = t, sim.model.state_at(t).node_values()["Program.State"]
            await asyncio.sleep((changed_at - now_ns()) / NS + 1.5)
            back_at = now_ns()
            await conn.connect()
            await asyncio.sleep(1.0)
        finally:
            await conn.close()
    changes = [
        e
        for e in recorder.events("program_state", "value_change")
        if left_at <= e.ts_ns and e.message == str(new_state)
    ]
    assert [e.ts_ns for e in changes] == [changed_at], (changed_at, back_at, changes)
    assert changes[0].provenance.backfilled


async def test_backfill_follows_the_server_clock_and_ends(tmp_path: Path) -> None:
    """At time_scale 10 source times run ahead of the wall clock: history is still read
    (the request's end is open) and the backfill ends instead of chasing new blocks."""
    async with CncSimServer(CncSimConfig(port=0, time_scale=10.0)) as sim:
        recorder = Recorder(tmp_path)
        conn = connector(sim, recorder)
        await conn.connect()
        try:
            await until(lambda: len(recorder.blocks("spindle_accel")) >= 2, 20, "live blocks")
            await conn.close()
            await asyncio.sleep(2.0)
            async with asyncio.timeout(120):  # a guard against a hang, not a measurement
                await conn.connect()
        finally:
            await conn.close()
    assert conn.stats["backfilled"] > 0
    assert not [d for d in recorder.letters if "incomplete block" in d.reason]
    backfilled = [b for b in recorder.blocks("spindle_accel") if b.provenance.backfilled]
    assert backfilled and all(b.data.shape == (25600, 3) for b in backfilled)
