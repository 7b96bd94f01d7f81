"""The MQTT connector in the connector engine: health and dead letters, refused logins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from shopfloor.bus import MemoryBus
from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.config import ReconnectPolicy
from shopfloor.connectors.engine import ConnectorEngine, ConnectorSpec
from shopfloor.connectors.mqtt.config import MqttConfig
from shopfloor.connectors.registry import load_connector_class, manifest_for
from shopfloor.model import DeadLetter, Signal, SignalRef

from .mqtt_env import mosquitto_with_password

pytestmark = [pytest.mark.integration]

ASSET = "acme/plant1/packaging/line1/cell1/filler"
SPEED = SignalRef(ASSET, "speed")
FAST = ReconnectPolicy(initial_s=0.05, max_s=0.2, jitter=0.1)


@asynccontextmanager
async def engine(
    port: int, tmp_path: Path, env: dict[str, str] | None = None, **settings: Any
) -> AsyncIterator[tuple[ConnectorEngine, list[DeadLetter]]]:
    letters: list[DeadLetter] = []

    async def keep(items: Sequence[DeadLetter]) -> None:
        letters.extend(items)

    config = MqttConfig(name="line1", port=port, timeout_s=2, reconnect=FAST, **settings)
    bound = BoundSignal(SPEED, Signal(name="speed", unit="rpm"), "line1/speed", {"value": "v"})
    run = ConnectorEngine(
        [ConnectorSpec(config, [bound], load_connector_class(manifest_for("mqtt")))],
        MemoryBus(),
        keep,
        tmp_path / "state",
        signals={SPEED: bound.definition},
        env=env or {},
        root=tmp_path,
    )
    await run.start()
    try:
        yield run, letters
    finally:
        await run.stop()


async def until(what: str, condition: Callable[[], bool], timeout_s: float = 15) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def test_bad_messages_show_in_health_and_reach_the_dead_letters(
    broker: int, tmp_path: Path
) -> None:
    async with engine(broker, tmp_path) as (run, letters):

        def health() -> dict[str, Any]:
            result: dict[str, Any] = run.health()["line1"]
            return result

        await until("connected", lambda: health()["state"] == "connected")
        async with aiomqtt.Client("127.0.0.1", broker, identifier="device") as device:
            await device.publish("line1/speed", b'{"v": 1500}', qos=1)
            await until("a value", lambda: health()["values_in"] == 1)
            await device.publish("line1/speed", b'{"v": "fast"}', qos=1)
            await until("the signal in error", lambda: health()["health"] == "degraded")
            assert "speed: line1/speed: value at v is text 'fast'" in health()["reason"]
            await device.publish("line1/speed", b'{"v": 1510}', qos=1)
            await until("ok again", lambda: health()["health"] == "ok")
        await run.flush()
    assert [letter.detail["category"] for letter in letters] == ["wrong_type"]
    assert letters[0].source == "line1" and letters[0].location == "line1/speed"


async def test_a_refused_login_is_auth_failed_in_health(tmp_path: Path) -> None:
    with mosquitto_with_password(tmp_path, "line", "s3cret") as port:
        async with engine(port, tmp_path, {"PW": "wrong"}, username="line", password_env="PW") as (
            run,
            _,
        ):
            await until("auth_failed", lambda: run.health()["line1"]["state"] == "auth_failed")
            health = run.health()["line1"]
            assert health["health"] == "failed"
            assert "refused the credentials" in health["reason"]
            assert f"mqtt://127.0.0.1:{port}" in health["reason"]
