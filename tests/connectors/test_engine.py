"""The connector engine: reconnects, health, validation, and the store-and-forward journal."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopfloor.bus import MemoryBus
from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.config import ConnectorConfig, JournalConfig, ReconnectPolicy
from shopfloor.connectors.engine import ConnectorEngine, ConnectorSpec
from shopfloor.model import (
    EventRecord,
    ImageRecord,
    Provenance,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
    WaveformBlock,
)
from shopfloor.node.sink import StoreSink
from shopfloor.store import DuckDBStore

from .fakes import (
    T0,
    BrokenConnector,
    CounterConnector,
    DroppingConnector,
    FlakyConnector,
    MistypedNodeConnector,
)

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
SIGNALS = [
    Signal(name="seq"),
    Signal(name="speed", unit="rpm", valid_range=(0, 30000)),
    Signal(
        name="accel", kind=SignalKind.WAVEFORM, unit="g", sample_rate_hz=1000, channels=["x", "y"]
    ),
    Signal(name="camera", kind=SignalKind.IMAGE),
    Signal(name="program", kind=SignalKind.EVENT),
]
FAST = ReconnectPolicy(initial_s=0.01, max_s=0.05, jitter=0.1)


def infos() -> dict[SignalRef, Signal]:
    return {SignalRef(ASSET, s.name): s for s in SIGNALS}


def spec(name: str, cls: type, signal: str = "seq") -> ConnectorSpec:
    ref = SignalRef(ASSET, signal)
    config = ConnectorConfig(
        name=name,
        type="fake",
        reconnect=FAST,
        journal=JournalConfig(max_bytes=64 * 1024**2, segment_bytes=1024**2),
    )
    return ConnectorSpec(config, [BoundSignal(ref, SIGNALS[0], "counter")], cls)


async def test_consumer_stopped_under_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """The store sink stops for a while under load: records go to the journal and come back
    in order; afterwards every number is in the store exactly once."""
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    await store.register_signals(ASSET, SIGNALS)
    bus = MemoryBus()
    sink = StoreSink(bus, store, maxsize=32, batch_size=16, batch_wait_s=0.01)
    await sink.subscribe()
    sink_task = asyncio.create_task(sink.run())

    resume = asyncio.Event()

    class Counter(CounterConnector):
        total = 20_000
        batch = 20
        pause_at = 5_000

    Counter.resume = resume
    engine = ConnectorEngine(
        [spec("counter", Counter)],
        bus,
        store.write_dead_letters,
        tmp_path / "state",
        signals=infos(),
        publish_timeout_s=0.02,
    )
    await engine.start()
    runner = engine.runner("counter")
    ref = SignalRef(ASSET, "seq")
    for _ in range(200):
        if await store.count(ref) == Counter.pause_at:
            break
        await asyncio.sleep(0.02)
    # stop the consumer, then let the connector go on: the bus fills, the journal takes over
    sink.stop()
    await sink_task
    resume.set()
    for _ in range(500):
        if runner.health.values_in == Counter.total:
            break
        await asyncio.sleep(0.02)
    assert runner.health.values_in == Counter.total
    assert runner.health.journaled > 0, "the journal was never used"
    assert runner.journal.pending > 0
    # the consumer comes back under the same durable subscription
    sink = StoreSink(bus, store, maxsize=32, batch_size=16, batch_wait_s=0.01)
    await sink.subscribe()
    sink_task = asyncio.create_task(sink.run())
    for _ in range(600):
        if await store.count(ref) == Counter.total and runner.journal.empty:
            break
        await asyncio.sleep(0.05)
    await engine.stop()
    sink.stop()
    await sink_task
    table = await store.read_scalars(ref, T0, T0 + 10**12)
    values = table.column("value").to_numpy()
    assert len(values) == Counter.total
    np.testing.assert_array_equal(np.sort(values), np.arange(Counter.total, dtype=float))
    assert np.all(np.diff(table.column("ts").cast("int64").to_numpy()) > 0)  # no duplicates
    assert runner.health.replayed == runner.health.journaled
    assert runner.health.values_in == Counter.total
    await store.close()


async def test_journal_survives_a_restart(tmp_path: Path) -> None:
    """Records journaled when the platform stops are replayed by the next engine."""
    store = DuckDBStore(tmp_path / "s.duckdb")
    await store.open()
    await store.register_signals(ASSET, SIGNALS)
    bus = MemoryBus()
    await bus.subscribe("shopfloor/v1/#", name="store", maxsize=4)  # nobody reads it

    class Counter(CounterConnector):
        total = 500

    engine = ConnectorEngine(
        [spec("counter", Counter)],
        bus,
        store.write_dead_letters,
        tmp_path / "state",
        signals=infos(),
        publish_timeout_s=0.01,
    )
    await engine.start()
    for _ in range(200):
        if engine.runner("counter").health.values_in == Counter.total:
            break
        await asyncio.sleep(0.02)
    await engine.stop()
    journaled = engine.runner("counter").journal.pending
    assert journaled > 0
    await bus.close()
    # a new process: a new bus with a working store sink, a new engine on the same state
    bus = MemoryBus()
    sink = StoreSink(bus, store, batch_wait_s=0.01)
    await sink.subscribe()
    task = asyncio.create_task(sink.run())

    class Idle(CounterConnector):
        total = 0

    engine = ConnectorEngine(
        [spec("counter", Idle)],
        bus,
        store.write_dead_letters,
        tmp_path / "state",
        signals=infos(),
        publish_timeout_s=0.5,
    )
    await engine.start()
    for _ in range(200):
        if engine.runner("counter").journal.empty:
            break
        await asyncio.sleep(0.02)
    await engine.stop()
    sink.stop()
    await task
    # each journaled record is one batch of the counter
    assert await store.count(SignalRef(ASSET, "seq")) == journaled * Counter.batch
    await store.close()


async def test_reconnects_with_backoff_and_reports_health(tmp_path: Path) -> None:
    bus = MemoryBus()
    letters: list[object] = []

    async def sink(batch: object) -> None:
        letters.append(batch)

    engine = ConnectorEngine([spec("flaky", FlakyConnector)], bus, sink, tmp_path, signals=infos())
    await engine.start()
    runner = engine.runner("flaky")
    for _ in range(100):
        if runner.health.state == "connected":
            break
        await asyncio.sleep(0.01)
    health = engine.health()["flaky"]
    assert health["state"] == "connected"
    assert health["reconnect_attempts"] == 2  # attempts after a failure
    assert health["reconnects"] == 0  # it was never connected before: nothing to reconnect
    assert "attempt 2" in health["last_error"]
    await engine.stop()
    assert engine.health()["flaky"]["state"] == "stopped"


async def test_auth_failure_is_reported_and_retried_slowly(tmp_path: Path) -> None:
    class Auth(FlakyConnector):
        auth = True

    async def sink(batch: object) -> None:
        pass

    engine = ConnectorEngine([spec("secure", Auth)], MemoryBus(), sink, tmp_path, signals=infos())
    await engine.start()
    await asyncio.sleep(0.1)
    health = engine.health()["secure"]
    assert health["state"] == "auth_failed"
    assert "certificate rejected" in health["last_error"]
    assert health["reconnect_attempts"] <= 3  # waits max_s between attempts, not initial_s
    assert health["reconnects"] == 0
    await engine.stop()


async def nothing(items: object) -> None:
    pass


async def wait_for_state(engine: ConnectorEngine, name: str, state: str) -> dict[str, object]:
    for _ in range(500):
        health: dict[str, object] = engine.health()[name]
        if health["state"] == state:
            return health
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} never reached {state!r}: {engine.health()[name]}")


async def test_a_connector_whose_constructor_raises_is_failed_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the connector stayed ``starting`` with no error, and nothing was logged."""
    engine = ConnectorEngine(
        [spec("broken", BrokenConnector)], MemoryBus(), nothing, tmp_path, signals=infos()
    )
    with caplog.at_level(logging.INFO, logger="shopfloor.connectors.engine"):
        await engine.start()
        health = await wait_for_state(engine, "broken", "failed")
    assert health["health"] == "failed"
    assert "not a valid URL" in str(health["last_error"])
    assert "ValueError" in str(health["last_error"]) and health["last_error_at"] is not None
    assert "not a valid URL" in str(health["reason"])
    overall = engine.health()["_health"]
    assert overall["health"] == "failed" and "broken" in overall["reason"]
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and "connector.failed connector=broken" in lines[0].getMessage()
    assert "not a valid URL" in lines[0].getMessage()
    await engine.stop()


async def test_a_mistyped_node_puts_its_signal_in_error(tmp_path: Path) -> None:
    """Before: the node id went to the dead letters, but the connector showed ``connected``
    and the signal no error at all."""
    engine = ConnectorEngine(
        [spec("typo", MistypedNodeConnector)], MemoryBus(), nothing, tmp_path, signals=infos()
    )
    await engine.start()
    await wait_for_state(engine, "typo", "connected")
    for _ in range(100):
        if engine.health()["typo"]["signals"]["seq"]["state"] == "error":
            break
        await asyncio.sleep(0.01)
    health = engine.health()["typo"]
    signal = health["signals"]["seq"]
    assert signal["state"] == "error"
    assert "BadNodeIdUnknown" in signal["last_error"]
    assert signal["last_error_at"] is not None and signal["last_value_at"] is None
    assert health["state"] == "connected"
    assert health["health"] == "degraded"
    assert "seq" in health["reason"] and "BadNodeIdUnknown" in health["reason"]
    assert engine.health()["_health"]["health"] == "degraded"
    await engine.stop()


async def test_reconnects_counts_reconnections_and_attempts_apart(tmp_path: Path) -> None:
    """Before: ``reconnects`` counted attempts, and the last error stayed with no time and
    no sign that it was over."""
    engine = ConnectorEngine(
        [spec("drop", DroppingConnector)], MemoryBus(), nothing, tmp_path, signals=infos()
    )
    await engine.start()
    runner = engine.runner("drop")
    for _ in range(500):
        if runner.health.reconnects:
            break
        await asyncio.sleep(0.01)
    health = engine.health()["drop"]
    assert health["state"] == "connected"
    assert health["reconnects"] == 1  # lost once, back once
    assert health["reconnect_attempts"] == 3  # the loss, then two refused attempts
    assert "refusal 2" in health["last_error"]
    assert health["last_error_at"] is not None
    assert health["last_error_resolved"] is True
    assert health["health"] == "ok" and health["reason"] is None
    assert health["signals"]["seq"]["state"] == "ok"
    assert health["signals"]["seq"]["last_value_at"] is not None
    assert engine.health()["_health"] == {"health": "ok", "reason": None}
    await engine.stop()


async def test_state_changes_log_one_line_each_and_tracebacks_only_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: a connector bug logged its traceback at error level on every attempt, and
    every attempt logged two state changes."""

    class Crashing(DroppingConnector):
        crash = True
        refusals = 4

    engine = ConnectorEngine(
        [spec("crash", Crashing)], MemoryBus(), nothing, tmp_path, signals=infos()
    )
    with caplog.at_level(logging.DEBUG, logger="shopfloor.connectors.engine"):
        await engine.start()
        runner = engine.runner("crash")
        for _ in range(500):
            if runner.health.reconnects:
                break
            await asyncio.sleep(0.01)
        await engine.stop()
    assert runner.health.reconnect_attempts == 5
    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert all(r.exc_info is None for r in info), "a traceback above debug level"
    events = [r.getMessage().split()[0] for r in info]
    assert events == [
        "connector.connecting",
        "connector.connected",
        "connector.reconnecting",
        "connector.connected",
        "connector.stopped",
    ]
    assert "refusal 4" in info[3].getMessage()  # the recovery names the error it resolved
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert len(debug) == 5  # the detail of every failed attempt is still there


# -- fuzz: malformed input never crashes the engine; every rejection is a dead letter ------


def ref(name: str) -> SignalRef:
    return SignalRef(ASSET, name)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
timestamps = st.one_of(st.integers(-(2**62), 2**62), st.just(T0))
prov = Provenance("fuzz", "node")

scalars = st.builds(
    lambda name, ts, vals: ScalarBatch.of(ref(name), ts[: len(vals)], vals[: len(ts)], prov),
    st.sampled_from(["speed", "seq", "nope", "accel", "program"]),
    st.lists(timestamps, min_size=1, max_size=8),
    st.lists(finite_or_not, min_size=1, max_size=8),
)
waveforms = st.builds(
    lambda name, t0, n, ch, nan: WaveformBlock(
        ref(name),
        t0,
        1000.0,
        np.where(np.arange(n * ch).reshape(n, ch) == 0, np.nan if nan else 1.0, 0.5),
        "g",
        prov,
    ),
    st.sampled_from(["accel", "speed", "nope"]),
    timestamps,
    st.integers(0, 64),
    st.integers(1, 3),
    st.booleans(),
)
images = st.builds(
    lambda name, ts, data: ImageRecord(ref(name), ts, data, "png", (1, 1, 1), prov),
    st.sampled_from(["camera", "nope"]),
    timestamps,
    st.binary(max_size=16),
)
events = st.builds(
    lambda name, ts, kind: EventRecord(ref(name), ts, kind, prov),
    st.sampled_from(["program", "speed", "nope"]),
    timestamps,
    st.text(max_size=5),
)
records = st.lists(st.one_of(scalars, waveforms, images, events), min_size=1, max_size=10)


@given(records)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_records_are_stored_or_dead_lettered(batch: list[Record]) -> None:
    """Malformed records never crash the engine; each rejection is in the store's
    dead-letter table with a reason, and everything else reaches the bus."""

    async def run() -> None:
        import tempfile

        bus = MemoryBus()
        sub = await bus.subscribe("shopfloor/v1/#", name="all", maxsize=1000)
        store = DuckDBStore(":memory:")
        await store.open()
        with tempfile.TemporaryDirectory() as tmp:
            engine = ConnectorEngine(
                [spec("fuzz", FlakyConnector)],
                bus,
                store.write_dead_letters,
                Path(tmp),
                signals=infos(),
            )
            runner = engine.runner("fuzz")
            await runner.emit(batch)
            await engine.flush()
        offered = sum(len(r) if isinstance(r, ScalarBatch) else 1 for r in batch)
        delivered = []
        while sub.pending:
            d = await sub.get(timeout_s=1)
            delivered.append(d.record)
            d.ack()
        passed = sum(len(r) if isinstance(r, ScalarBatch) else 1 for r in delivered)
        letters = await store.read_dead_letters(limit=10_000)
        assert passed + len(letters) == offered
        assert runner.health.rejected == len(letters)
        assert all(letter.reason and letter.source == "fuzz" for letter in letters)
        for r in delivered:
            if isinstance(r, ScalarBatch) and r.signal.name == "speed":
                assert all(0 <= v <= 30000 and math.isfinite(v) for v in r.values)
        await store.close()
        await bus.close()

    asyncio.run(run())


@pytest.mark.parametrize("bad", [-1, 0])
def test_journal_config_is_checked(bad: int) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        JournalConfig(max_bytes=bad)


def test_connectors_resolve_relative_paths_against_the_project(tmp_path: Path) -> None:
    from shopfloor.connectors.base import ConnectorContext

    async def nothing(items: object) -> None:
        pass

    context = ConnectorContext(tmp_path / "state", nothing, nothing, root=tmp_path)
    assert context.resolve("recordings/a.csv") == tmp_path / "recordings" / "a.csv"
    assert context.resolve("/abs/b.csv") == Path("/abs/b.csv")
