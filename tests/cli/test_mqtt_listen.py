"""``shopfloor mqtt listen`` against mosquitto on loopback, with a device publishing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.connectors.mqtt.config import MqttConfig, MqttSignalOptions
from shopfloor.connectors.mqtt.waveform import encode_waveform
from shopfloor.model import Signal
from tests.connectors.hotfolder_env import png
from tests.receivers import free_port

pytestmark = [pytest.mark.integration]


@pytest.fixture
def device(broker: int) -> Iterator[int]:
    """A device publishing telemetry, vibration blocks and images (a thread of its own)."""
    stop = threading.Event()

    async def publish() -> None:
        async with aiomqtt.Client("127.0.0.1", broker, identifier="device") as client:
            n = 0
            while not stop.is_set():
                body = {"ts": 1_769_846_400_000 + n, "data": {"temp": 21.5 + n, "run": True}}
                body["q"] = "good"
                await client.publish("plant/l1/filler/telemetry", json.dumps(body), qos=1)
                block = encode_waveform(np.zeros((64, 3)), sample_rate_hz=6400.0, t0_ns=n)
                await client.publish("plant/l1/filler/vibration", block, qos=1)
                await client.publish("plant/l1/camera/image", png(n), qos=1)
                await client.publish("plant/l1/filler/note", "hello", qos=1)
                n += 1
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(publish()), daemon=True)
    thread.start()
    try:
        yield broker
    finally:
        stop.set()
        thread.join(10)


def test_listen_shows_what_comes_and_exports_it(
    device: int, runner: CliRunner, tmp_path: Path
) -> None:
    export = tmp_path / "mqtt.yaml"
    args = ["mqtt", "listen", "--broker", f"127.0.0.1:{device}", "--topic", "plant/#"]
    result = runner.invoke(app, [*args, "--seconds", "1.5", "--export", str(export), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["topic"]: row for row in json.loads(result.stdout)}
    telemetry = rows["plant/l1/filler/telemetry"]
    assert telemetry["kind"] == "json" and telemetry["messages"] >= 5
    assert telemetry["rate_hz"] > 2
    assert telemetry["fields"]["data.temp"]["types"] == {"number": telemetry["messages"]}
    assert rows["plant/l1/filler/vibration"]["waveform"]["channels"] == 3
    assert rows["plant/l1/camera/image"]["image"]["format"] == "png"
    assert rows["plant/l1/filler/note"]["kind"] == "text"
    config = yaml.safe_load(export.read_text())
    assert MqttConfig.model_validate(config["connectors"][0]).port == device
    signals = {s["name"]: s for s in config["signals"]}
    assert set(signals) == {"temp", "run", "vibration", "image"}
    assert signals["temp"]["source_options"] == {
        "value": "data.temp",
        "timestamp": "ts",
        "timestamp_format": "epoch_ms",
        "quality": "q",
    }
    assert signals["vibration"]["channels"] == ["ch0", "ch1", "ch2"]
    for signal in config["signals"]:
        Signal.model_validate(signal)
        MqttSignalOptions.model_validate(signal.get("source_options", {}))
    assert "plant/l1/filler/note (text)" in export.read_text()
    table = runner.invoke(app, [*args, "--seconds", "0.5"])
    assert table.exit_code == 0, table.output
    assert "4 topic(s)" in table.stdout


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["--topic", "a/#/b"], "'#' must be the last level", 2),
        (["--topic", "a", "--broker", "host:99999"], "HOST:PORT", 2),
        (["--topic", "a", "--export", "out.csv"], "use a .yaml", 2),
        (["--topic", "a", "--password-env", "PW"], "needs --username", 2),
        ([], "--topic", 2),
    ],
)
def test_wrong_flags_are_refused(
    runner: CliRunner, args: list[str], message: str, status: int
) -> None:
    result = runner.invoke(app, ["mqtt", "listen", *args])
    assert result.exit_code == status, result.output
    assert message in result.output


def test_an_unreachable_broker_fails_clearly(runner: CliRunner) -> None:
    port = free_port()
    args = ["mqtt", "listen", "--topic", "a/#", "--broker", f"127.0.0.1:{port}", "--timeout", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert f"mqtt://127.0.0.1:{port}" in result.output
