"""The contract every connector type keeps, run through the real connector engine.

As River runs its checks over every estimator, :func:`check_connector` runs every check
in :data:`CONNECTOR_CHECKS` over one connector type wired to a live source on loopback
(the CNC simulator for OPC UA, a small recording for replay). Each check states its
invariant in its docstring. A connector type ships a :class:`ConnectorFixture`: its
settings, the signals it reads, and a :class:`Source` the checks can take away and bring
back.

Examples
--------
A test module runs the suite over one fixture (see ``tests/connectors/test_contract.py``)::

    @pytest.mark.parametrize("check", CONNECTOR_CHECKS, ids=lambda c: c.__name__)
    async def test_contract(check, fixture):
        await check(fixture)
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from shopfloor.bus import MemoryBus, Subscription
from shopfloor.connectors.base import BoundSignal, Connector, ConnectorContext, Writable
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.engine import ConnectorEngine, ConnectorSpec
from shopfloor.connectors.registry import load_connector_class, manifest_for
from shopfloor.connectors.writes import WriteValue, same_value
from shopfloor.errors import WriteRefused
from shopfloor.model import DeadLetter, EventRecord, Record, ScalarBatch, SignalRef

__all__ = [
    "CONNECTOR_CHECKS",
    "ConnectorFixture",
    "DuplicateRecords",
    "LostRecords",
    "Source",
    "WriteTarget",
    "check_close",
    "check_connector",
    "check_read",
    "check_recover",
    "check_restart",
    "check_write",
]


class DuplicateRecords(AssertionError):
    """A record reached the bus twice (the same signal and timestamp)."""


class LostRecords(AssertionError):
    """Records of a continuous signal are missing across an outage."""


class Source(Protocol):
    """A live source on loopback that a check can take away and bring back."""

    async def interrupt(self) -> None:
        """Take the source away: open connections drop and new ones are refused."""

    async def restore(self) -> None:
        """Bring the source back where it was."""


@dataclass(frozen=True)
class WriteTarget:
    """Where a writable connector type's check writes, what fits there and what does not.

    Parameters
    ----------
    address
        A writable scalar of the live source.
    value
        A value that fits its data type (written, then read back).
    type_name
        The data type the source holds there (one of
        :data:`~shopfloor.connectors.writes.SCALAR_TYPES`), to compare the read-back.
    unfit
        A value that does not fit the data type (refused, nothing written).
    """

    address: str
    value: WriteValue
    type_name: str
    unfit: WriteValue


@dataclass
class ConnectorFixture:
    """One connector type wired to a live source, for the contract checks.

    Parameters
    ----------
    config
        The connector's settings (its ``type`` names the registered kind).
    signals
        The signals bound to it; each must receive records.
    source
        The live source, to take away and bring back.
    continuous
        A scalar signal whose timestamps come every ``period_s`` while the source runs:
        the recover check looks for holes and duplicates in it.
    period_s
        Nominal spacing of ``continuous``.
    root
        The project folder against which relative paths resolve.
    timeout_s
        How long a check waits for something to happen before it fails.
    write_target
        For a type whose manifest says ``writable``: where :func:`check_write` writes.
    backfills
        Whether the source keeps history the connector fills an outage from (OPC UA). A
        source without (Modbus) must instead record each hole as a ``gap`` event.
    """

    config: ConnectorConfig
    signals: list[BoundSignal]
    source: Source
    continuous: SignalRef
    period_s: float
    root: Path = field(default_factory=Path.cwd)
    timeout_s: float = 30.0
    write_target: WriteTarget | None = None
    backfills: bool = True


class _Run:
    """An engine running one connector, with everything it published and rejected."""

    def __init__(self, fixture: ConnectorFixture, state_dir: Path) -> None:
        self.fixture = fixture
        self.bus = MemoryBus()
        self.letters: list[DeadLetter] = []
        self.records: list[Record] = []
        self._sub: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        manifest = manifest_for(fixture.config.type)
        factory = load_connector_class(manifest)
        self.engine = ConnectorEngine(
            [ConnectorSpec(fixture.config, fixture.signals, factory)],
            self.bus,
            self._dead_letters,
            state_dir,
            signals={b.ref: b.definition for b in fixture.signals},
            publish_timeout_s=1.0,
            connect_timeout_s=min(10.0, fixture.timeout_s),
            root=fixture.root,
        )

    async def _dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    async def _read(self) -> None:
        assert self._sub is not None
        while True:
            for delivery in await self._sub.get_batch(1024, 0.05):
                self.records.append(delivery.record)
                delivery.ack()

    async def start(self) -> None:
        self._sub = await self.bus.subscribe("shopfloor/v1/#", name="check", maxsize=100_000)
        self._reader = asyncio.create_task(self._read(), name="check-reader")
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.bus.close()

    @property
    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.engine.health()[self.fixture.config.name]
        return result

    async def until(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.fixture.timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"connector {self.fixture.config.name!r} ({self.fixture.config.type}): "
                    f"timed out after {self.fixture.timeout_s} s waiting for {what}; "
                    f"health: {self.health}"
                )
            await asyncio.sleep(0.05)

    def count(self, ref: SignalRef, since: int = 0) -> int:
        return sum(1 for r in self.records[since:] if r.signal == ref)


@contextlib.asynccontextmanager
async def _running(fixture: ConnectorFixture, state_dir: Path) -> AsyncIterator[_Run]:
    run = _Run(fixture, state_dir)
    await run.start()
    try:
        yield run
    finally:
        await run.stop()


def _scalar_ts(records: Sequence[Record], ref: SignalRef) -> np.ndarray[Any, np.dtype[np.int64]]:
    parts = [r.ts_ns for r in records if isinstance(r, ScalarBatch) and r.signal == ref]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.int64)


async def check_read(fixture: ConnectorFixture) -> None:
    """Records arrive, each with a declared signal, and every declared signal gets some.

    The connector reaches ``connected``; nothing it reads goes to the dead letters.
    """
    declared = {b.ref for b in fixture.signals}
    with tempfile.TemporaryDirectory() as tmp:
        async with _running(fixture, Path(tmp)) as run:
            await run.until(
                "a record of every declared signal",
                lambda: all(run.count(ref) for ref in declared),
            )
            assert run.health["state"] == "connected", run.health
            strangers = {r.signal for r in run.records} - declared
            assert not strangers, f"records of undeclared signals: {sorted(map(str, strangers))}"
            assert not run.letters, f"dead letters while reading: {run.letters[:3]}"


async def check_restart(fixture: ConnectorFixture) -> None:
    """Stopped and started again on the same state folder, the connector resumes.

    After a stop its state is ``stopped``; an engine started again on the same state
    (a restarted platform) connects again and records of every signal arrive again.
    """
    declared = {b.ref for b in fixture.signals}
    with tempfile.TemporaryDirectory() as tmp:
        async with _running(fixture, Path(tmp)) as run:
            await run.until("the first records", lambda: run.count(fixture.continuous) > 0)
        assert run.health["state"] == "stopped", run.health
        async with _running(fixture, Path(tmp)) as again:
            await again.until(
                "records after the restart",
                lambda: all(again.count(ref) for ref in declared),
            )
            assert again.health["state"] == "connected", again.health


async def check_recover(fixture: ConnectorFixture) -> None:
    """The source goes away and comes back: the connector recovers on its own.

    Its state goes ``reconnecting`` while the source is away, then ``connected`` with one
    reconnection counted and the error marked resolved; the continuous signal has no
    record lost (no hole longer than 3 periods) and none duplicated (no timestamp twice).
    A source without history (``backfills=False``) may leave a hole, never a silent one: a
    ``gap`` event of the signal covers it.
    """
    ref = fixture.continuous
    with tempfile.TemporaryDirectory() as tmp:
        async with _running(fixture, Path(tmp)) as run:
            await run.until("the first records", lambda: run.count(ref) >= 3)
            await fixture.source.interrupt()
            try:
                await run.until(
                    "state 'reconnecting'", lambda: run.health["state"] == "reconnecting"
                )
                assert run.health["health"] == "degraded", run.health
            finally:
                await fixture.source.restore()
            back = len(run.records)
            await run.until("state 'connected' again", lambda: run.health["state"] == "connected")
            await run.until("records after recovery", lambda: run.count(ref, back) >= 5)
            health = run.health
            assert health["reconnects"] >= 1, health
            assert health["last_error_resolved"], health
            ts = _scalar_ts(run.records, ref)
        unique, counts = np.unique(ts, return_counts=True)
        if ts.size != unique.size:
            twice = unique[counts > 1]
            raise DuplicateRecords(
                f"{ref}: {ts.size - unique.size} records arrived twice, e.g. at ts_ns "
                f"{twice[:3].tolist()}"
            )
        gaps = np.diff(unique)
        limit = 3 * fixture.period_s * 1e9
        recorded = [
            (int(e.attributes["from_ns"]), int(e.attributes["to_ns"]))
            for e in run.records
            if isinstance(e, EventRecord) and e.signal == ref and e.kind == "gap"
        ]
        for i in np.flatnonzero(gaps > limit):
            start, end = int(unique[i]), int(unique[i + 1])
            if not fixture.backfills and any(a <= start and b >= end for a, b in recorded):
                continue
            raise LostRecords(
                f"{ref}: a hole of {(end - start) / 1e9:.2f} s (period {fixture.period_s} s): "
                "records were lost across the outage"
                + ("" if fixture.backfills else " and no gap event covers it")
            )


async def check_close(fixture: ConnectorFixture) -> None:
    """``close`` works before ``connect``, under cancellation, and twice.

    A close cancelled half-way leaves the connector closable; the next close returns
    within the fixture's timeout, and one more is harmless.
    """

    async def nothing(items: object) -> None:
        pass

    cls = load_connector_class(manifest_for(fixture.config.type))
    with tempfile.TemporaryDirectory() as tmp:
        context = ConnectorContext(Path(tmp), nothing, nothing, root=fixture.root)
        idle: Connector = cls(fixture.config, fixture.signals, context)
        async with asyncio.timeout(fixture.timeout_s):
            await idle.close()
        connector: Connector = cls(fixture.config, fixture.signals, context)
        async with asyncio.timeout(fixture.timeout_s):
            await connector.connect()
        reader = asyncio.create_task(connector.run())
        await asyncio.sleep(0.3)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        closer = asyncio.create_task(connector.close())
        await asyncio.sleep(0)
        closer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closer
        async with asyncio.timeout(fixture.timeout_s):
            await connector.close()
            await connector.close()


async def check_write(fixture: ConnectorFixture) -> None:
    """A type whose manifest says ``writable`` writes back through its running session.

    Its connector is :class:`~shopfloor.connectors.base.Writable`; while the engine has it
    connected, writing the fixture's value returns the value read back, equal to it as the
    target's data type; a value that does not fit raises
    :class:`~shopfloor.errors.WriteRefused` and leaves the target as it was. A type that
    does not declare ``writable`` passes without writing.
    """
    if not manifest_for(fixture.config.type).writable:
        return
    target = fixture.write_target
    assert target is not None, (
        f"connector type {fixture.config.type!r} declares writable, but its fixture names no "
        "write_target"
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with _running(fixture, Path(tmp)) as run:
            name = fixture.config.name
            await run.until("state 'connected'", lambda: run.engine.connected(name) is not None)
            connector: object = run.engine.connected(name)
            assert isinstance(connector, Writable), f"{type(connector).__name__} cannot write"
            async with asyncio.timeout(fixture.timeout_s):
                read = await connector.write(target.address, target.value)
                assert same_value(target.value, read, target.type_name), (
                    f"wrote {target.value!r} to {target.address}, read back {read!r}"
                )
                try:
                    await connector.write(target.address, target.unfit)
                except WriteRefused:
                    pass
                else:
                    raise AssertionError(
                        f"writing {target.unfit!r} to {target.address} ({target.type_name}) "
                        "was not refused"
                    )
                again = await connector.write(target.address, target.value)
                assert same_value(target.value, again, target.type_name), again


CONNECTOR_CHECKS: tuple[Callable[[ConnectorFixture], Awaitable[None]], ...] = (
    check_read,
    check_restart,
    check_recover,
    check_close,
    check_write,
)
"""Every check a connector type passes, in the order :func:`check_connector` runs them."""


async def check_connector(fixture: ConnectorFixture) -> None:
    """Run every check of :data:`CONNECTOR_CHECKS` over one connector type.

    Parameters
    ----------
    fixture
        The connector's settings, signals and live source.

    Raises
    ------
    AssertionError
        Naming the check, the connector and what it did not do.
    """
    for check in CONNECTOR_CHECKS:
        try:
            await check(fixture)
        except AssertionError as err:
            raise AssertionError(
                f"{check.__name__} failed for connector type {fixture.config.type!r}: {err}"
            ) from err
