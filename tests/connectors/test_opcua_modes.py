"""Poll mode, deadband subscriptions, error mapping and log output of the OPC UA client."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asyncua.ua import uaerrors

from shopfloor.connectors import quiet
from shopfloor.connectors.opcua import client as opcua_client
from shopfloor.connectors.opcua.client import OpcUaConnector, connect_client
from shopfloor.connectors.opcua.config import OpcUaConfig
from shopfloor.errors import ConnectorAuthError, ConnectorNotReady
from shopfloor.model import WaveformBlock
from shopfloor.sim.cnc import CncSimConfig, CncSimServer

from .test_opcua_gaps import Recorder, bound, until

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def values_of(recorder: Recorder, name: str) -> tuple[np.ndarray, np.ndarray]:
    batches = [r for r in recorder.records if getattr(r, "signal", None) and r.signal.name == name]
    ts = np.concatenate([b.ts_ns for b in batches])  # type: ignore[attr-defined]
    values = np.concatenate([b.values for b in batches])  # type: ignore[attr-defined]
    order = np.argsort(ts, kind="stable")
    return ts[order], values[order]


async def test_poll_mode_reads_model_values_once_each(tmp_path: Path) -> None:
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        signal = bound(sim, "spindle_speed", "Spindle.Speed", options={"mode": "poll"})
        config = OpcUaConfig(name="cnc", endpoint=sim.endpoint_url, poll_interval_ms=50)
        conn = OpcUaConnector(config, [signal], recorder.context)
        await conn.connect()
        try:
            await until(lambda: len(recorder.records) >= 5, 20, "polled values")
        finally:
            await conn.close()
        ts, values = values_of(recorder, "spindle_speed")
        assert ts.size >= 5
        assert np.all(np.diff(ts) > 0), "a polled value was recorded twice"
        expected = [sim.model.state_at(int(t)).node_values()["Spindle.Speed"] for t in ts]
        np.testing.assert_allclose(values, expected, rtol=1e-12)


async def test_deadband_subscription_reports_only_larger_changes(tmp_path: Path) -> None:
    """Spindle.Temperature moves by < 0.1 degC per tick: a 0.1 deadband thins it out."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        plain, banded = Recorder(tmp_path / "a"), Recorder(tmp_path / "b")
        node = "Spindle.Temperature"
        config = OpcUaConfig(name="cnc", endpoint=sim.endpoint_url)
        conns = [
            OpcUaConnector(config, [bound(sim, "temp", node)], plain.context),
            OpcUaConnector(
                config, [bound(sim, "temp", node, options={"deadband": 0.1})], banded.context
            ),
        ]
        for conn in conns:
            await conn.connect()
        try:
            await until(lambda: len(plain.records) >= 1 and len(banded.records) >= 1, 20, "data")
            await asyncio.sleep(4.0)
        finally:
            for conn in conns:
                await conn.close()
    _, every = values_of(plain, "temp")
    _, thinned = values_of(banded, "temp")
    assert every.size >= 20
    assert thinned.size < every.size / 2
    assert np.all(np.abs(np.diff(thinned)) > 0.1), thinned


class _RefusingClient:
    """Stands in for asyncua's Client: the session is refused with ``error``."""

    error: Exception = uaerrors.BadUserAccessDenied()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.application_uri = ""

    async def connect(self) -> None:
        raise self.error

    async def disconnect(self) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (uaerrors.BadUserAccessDenied(), ConnectorAuthError),
        (uaerrors.BadIdentityTokenRejected(), ConnectorAuthError),
        (uaerrors.BadSecurityChecksFailed(), ConnectorAuthError),
        # names that contain "Identity" or "Security" but are no credential problem
        (uaerrors.BadIdentityChangeNotSupported(), ConnectorNotReady),
        (uaerrors.BadSecurityModeInsufficient(), ConnectorNotReady),
        (uaerrors.BadTooManySessions(), ConnectorNotReady),
    ],
)
async def test_refusals_are_mapped_by_status_code(
    error: Exception, expected: type[Exception], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import asyncua

    monkeypatch.setattr(_RefusingClient, "error", error)
    monkeypatch.setattr(asyncua, "Client", _RefusingClient)
    config = OpcUaConfig(name="cnc", endpoint="opc.tcp://127.0.0.1:4840")
    with pytest.raises(expected) as info:
        await connect_client(config, tmp_path, {})
    assert type(error).__name__ in str(info.value)
    assert info.value.__cause__ is error


async def test_connection_loss_is_one_warning_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        recorder = Recorder(tmp_path)
        config = OpcUaConfig(name="cnc", endpoint=sim.endpoint_url, watchdog_interval_s=0.5)
        conn = OpcUaConnector(
            config, [bound(sim, "spindle_speed", "Spindle.Speed")], recorder.context
        )
        await conn.connect()
        try:
            await until(lambda: bool(recorder.records), 20, "data")
            caplog.clear()
            with caplog.at_level(logging.INFO):
                await sim.stop()
                with pytest.raises(ConnectorNotReady):
                    await asyncio.wait_for(conn.run(), 20)
                await asyncio.sleep(1.0)
        finally:
            await conn.close()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split()[0] for r in loud] == ["opcua.connection_lost"], [
        (r.name, r.getMessage()[:120]) for r in loud
    ]
    assert not any(r.exc_info for r in loud)
    assert quiet._TO_DEBUG in logging.getLogger("asyncua.client.ua_client").filters


async def test_a_stalled_engine_does_not_make_blocks_pile_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """emit() never returns: decoded samples stay bounded, then the connector reconnects."""
    monkeypatch.setattr(opcua_client, "_MAX_PENDING_SAMPLES", 200_000, raising=False)
    stalled = asyncio.Event()

    class Stalled(Recorder):
        async def emit(self, records: Any) -> None:
            await stalled.wait()

    async with CncSimServer(CncSimConfig(port=0, time_scale=10.0)) as sim:
        recorder = Stalled(tmp_path)
        axes = [sim.node_id(f"Vibration.Accel{a}") for a in "XYZ"]
        accel = bound(
            sim,
            "spindle_accel",
            "Vibration.AccelX",
            kind="waveform",
            sample_rate_hz=25600,
            channels=["x", "y", "z"],
            options={"channel_nodes": axes},
        )
        config = OpcUaConfig(name="cnc", endpoint=sim.endpoint_url, flush_interval_ms=50)
        conn = OpcUaConnector(config, [accel], recorder.context)
        await conn.connect()
        peak = 0
        try:
            for _ in range(60):
                pending = sum(r.data.size for r in conn._pending if isinstance(r, WaveformBlock))
                peak = max(peak, pending)
                await asyncio.sleep(0.1)
        finally:
            stalled.set()
            await conn.close()
    assert 0 < peak <= 200_000 + 3 * 25_600
