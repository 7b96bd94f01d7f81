"""The packaging line's camera publishing over MQTT (mosquitto on loopback)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from shopfloor.connectors.mqtt.config import MqttSignalOptions
from shopfloor.connectors.mqtt.payloads import MessageReader
from shopfloor.sim.packaging.line import PackagingSimConfig
from shopfloor.sim.packaging.publish import MqttCamera, check_topic, split_broker
from shopfloor.sim.packaging.runner import run_line

pytestmark = [pytest.mark.integration]


async def test_each_part_is_one_message_the_connector_reads(broker: int, tmp_path: Path) -> None:
    config = PackagingSimConfig(seed=2, size=32, speed_parts_s=50)
    got: list[aiomqtt.Message] = []
    async with aiomqtt.Client("127.0.0.1", broker, identifier="reader") as reader:
        await reader.subscribe("packaging/#", qos=1)
        labels = tmp_path / "labels.csv"
        topic = "packaging/{line}/camera/{part_id}"
        async with MqttCamera("127.0.0.1", broker, topic, labels) as camera:
            await run_line(config, tmp_path / "unused", parts=4, writer=camera)
        async with asyncio.timeout(10):
            async for message in reader.messages:
                got.append(message)
                if len(got) == 4:
                    break
    assert [m.topic.value for m in got] == [
        f"packaging/line1/camera/P-00000{i}" for i in range(1, 5)
    ]
    assert isinstance(got[0].payload, bytes)
    image = MessageReader(MqttSignalOptions(timestamp="ts")).image(
        got[0].payload, "t", 0, max_bytes=10**6
    )
    assert image.attributes == {"part_id": "P-000001"}
    assert image.info.shape == (32, 32, 3)
    header = json.loads(got[0].payload.split(b"\n", 1)[0])
    assert header["line"] == "line1"
    assert labels.read_text().splitlines()[1].startswith("P-000001,1,")
    assert not (tmp_path / "unused").exists()


def test_bad_mqtt_options_name_themselves(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "shopfloor.sim.packaging", "--folder", str(tmp_path / "c")]
    for args, hint in [
        (["--mqtt-broker", "host:port"], "--mqtt-broker"),
        (["--mqtt-broker", "127.0.0.1:1", "--mqtt-topic", "a/#"], "--mqtt-topic"),
        (["--mqtt-broker", "127.0.0.1:1", "--mqtt-topic", "a/{machine}"], "--mqtt-topic"),
    ]:
        bad = subprocess.run([*run, *args], capture_output=True, text=True, check=False)
        assert bad.returncode == 2 and hint in bad.stderr, bad.stderr
    assert split_broker("b:1884") == ("b", 1884)
    assert check_topic("x/{part_id}") == "x/{part_id}"
