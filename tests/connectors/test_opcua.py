"""The platform against the simulated CNC over real OPC UA on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shopfloor.api.server import api_server_factory
from shopfloor.model import Quality, SignalRef, now_ns
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.sim.cnc import CncSimConfig, CncSimServer

from .opcua_env import ASSET, Proxy, free_port, project_for

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def ref(name: str) -> SignalRef:
    return SignalRef(ASSET, name)


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def platform_for(project: object) -> Platform:
    proj: Any = project
    return Platform.from_project(
        proj, api=api_server_factory(proj, port=0), services=project_services(proj)
    )


async def test_subscribes_to_scalars_arrays_and_events_and_stores_them(tmp_path: Path) -> None:
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        project = project_for(tmp_path / "plant", sim.endpoint_url)
        platform = platform_for(project)
        await platform.start()
        store = platform.store
        try:

            async def enough() -> bool:
                return (
                    await store.count(ref("spindle_speed")) >= 30
                    and await store.count(ref("spindle_accel")) >= 3
                )

            await until(enough, 30, "speed samples and accelerometer blocks")
            blocks = await store.read_waveforms(ref("spindle_accel"), 0, now_ns() + 10**12)
            assert blocks[0].data.shape == (25600, 3)
            assert np.all(np.diff([b.t0_ns for b in blocks]) == 10**9)
            assert await store.count(ref("program_state")) >= 1
            letters = await store.read_dead_letters()
            assert any(
                "CNC01.Does.Not.Exist" in d.location and "BadNodeIdUnknown" in d.reason
                for d in letters
            )
            health = (await platform.status())["services"]["connectors"]["cnc"]
            assert health["state"] == "connected"
            assert health["signals"]["spindle_speed"]["last_value_age_s"] < 5
            # a failing sensor: values keep coming with bad quality, counted in health
            sim.set_sensor_status("Spindle.Temperature", "BadSensorFailure")
            await asyncio.sleep(2.0)
            table = await store.read_scalars(ref("spindle_temperature"), 0, now_ns() + 10**12)
            assert Quality.BAD in set(table.column("quality").to_pylist())
            health = (await platform.status())["services"]["connectors"]["cnc"]
            assert health["signals"]["spindle_temperature"]["bad_quality_ratio"] > 0
        finally:
            await platform.stop()


async def test_server_restart_restores_subscriptions_and_records_the_gap(tmp_path: Path) -> None:
    """The simulator process is killed (SIGKILL) and started again on the same port."""
    port = free_port()
    command = [sys.executable, "-m", "shopfloor.sim.cnc", "--port", str(port), "--quiet"]

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY"), line
        return proc

    proc = await asyncio.to_thread(start)
    project = project_for(tmp_path / "plant", f"opc.tcp://127.0.0.1:{port}")
    platform = platform_for(project)
    await platform.start()
    store = platform.store
    try:
        await until(lambda: _count_at_least(store, "spindle_speed", 20), 30, "first samples")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        killed_at = now_ns()
        await asyncio.sleep(3.0)
        health = (await platform.status())["services"]["connectors"]["cnc"]
        assert health["state"] != "connected"
        proc = await asyncio.to_thread(start)
        back_at = now_ns()

        async def flowing_again() -> bool:
            table = await store.read_scalars(ref("spindle_speed"), back_at, now_ns() + 10**10)
            blocks = await store.count(ref("spindle_accel"), back_at, now_ns() + 10**10)
            return table.num_rows >= 10 and blocks >= 1

        await until(flowing_again, 30, "data after the restart")
        gaps = await store.read_events(killed_at - 10**10, now_ns(), kind="gap")
        assert any(e.signal.name == "spindle_speed" for e in gaps), gaps
        gap = next(e for e in gaps if e.signal.name == "spindle_speed")
        assert gap.attributes["seconds"] >= 2.5
        health = (await platform.status())["services"]["connectors"]["cnc"]
        assert health["state"] == "connected" and health["reconnects"] >= 1
    finally:
        await platform.stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def _count_at_least(store: object, name: str, n: int) -> bool:
    return await store.count(ref(name)) >= n  # type: ignore[attr-defined, no-any-return]


async def test_network_loss_is_backfilled_from_history(tmp_path: Path) -> None:
    """The connection drops for 4 s while the server keeps running: HistoryRead fills it."""
    async with CncSimServer(CncSimConfig(port=0)) as sim:
        proxy = Proxy(sim.port)
        await proxy.start()
        project = project_for(tmp_path / "plant", proxy.url)
        platform = platform_for(project)
        await platform.start()
        store = platform.store
        try:
            await until(lambda: _count_at_least(store, "spindle_speed", 20), 30, "first samples")
            cut_at = now_ns()
            await proxy.cut()
            await asyncio.sleep(4.0)
            await proxy.restore()
            restored_at = now_ns()

            async def backfilled() -> bool:
                health = (await platform.status())["services"]["connectors"]["cnc"]
                return (
                    health["state"] == "connected"
                    and health["reconnects"] >= 1
                    and await store.count(ref("spindle_speed"), restored_at, now_ns() + 10**10) > 5
                )

            await until(backfilled, 30, "reconnection")
            await asyncio.sleep(1.0)
            table = await store.read_scalars(
                ref("spindle_speed"), cut_at - 10**9, restored_at + 10**9
            )
            ts = table.column("ts").cast("int64").to_numpy()
            assert ts.size > 40
            assert np.diff(ts).max() <= 300_000_000, "a hole remained in the 10 Hz data"
            gaps = await store.read_events(cut_at - 10**10, now_ns(), kind="gap")
            assert not [g for g in gaps if g.signal.name == "spindle_speed"]
        finally:
            await platform.stop()
            await proxy.cut()


async def test_sign_and_encrypt_with_generated_certificates(tmp_path: Path) -> None:
    config = CncSimConfig(port=0, security="encrypt", pki_dir=tmp_path / "server-pki")
    async with CncSimServer(config) as sim:
        project = project_for(tmp_path / "plant", sim.endpoint_url, security="SignAndEncrypt")
        platform = platform_for(project)
        await platform.start()
        try:
            await until(
                lambda: _count_at_least(platform.store, "spindle_speed", 10),
                30,
                "samples over SignAndEncrypt",
            )
        finally:
            await platform.stop()
        pki = project.state_dir / "connectors" / "cnc" / "pki"
        assert (pki / "client_cert.der").exists() and (pki / "client_key.pem").exists()
        assert os.stat(pki / "client_key.pem").st_mode & 0o077 == 0


async def test_unreachable_server_is_retried_without_stopping_the_platform(tmp_path: Path) -> None:
    project = project_for(tmp_path / "plant", f"opc.tcp://127.0.0.1:{free_port()}")
    platform = platform_for(project)
    await platform.start()
    try:
        await asyncio.sleep(2.5)
        health = (await platform.status())["services"]["connectors"]["cnc"]
        assert health["state"] in ("connecting", "reconnecting")
        assert health["reconnect_attempts"] >= 2
        assert "127.0.0.1" in (health["last_error"] or "")
    finally:
        await platform.stop()
