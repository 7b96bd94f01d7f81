"""The packaging line publishes its images over MQTT while the platform is restarted.

The packaging-line simulator (its own process) publishes 300 carton images (QoS 1, part
id and time in a JSON header line) to mosquitto at 50 parts/s; ``shopfloor run`` (a
subprocess) takes them with the ``mqtt`` connector. Midway the platform is stopped and
started again: the broker keeps its persistent session and the images published while it
was away. At the end every image is stored exactly once with its part id.
"""

from __future__ import annotations

import asyncio
import csv
import signal
from pathlib import Path

import pytest

from shopfloor.model import SignalRef
from tests.faults.test_hotfolder_restart import (
    run_again_until_stored,
    start,
    stored_images,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LINE = "acme/plant1/packaging/line1/cell1/camera-1"
CAMERA = SignalRef(LINE, "camera")
PARTS = 300


def write_project(folder: Path, port: int) -> None:
    folder.mkdir(parents=True)
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: camera-mqtt}}
api: {{port: 0}}
assets:
  - path: {LINE}
    signals:
      - name: camera
        kind: image
        connector: camera
        source: packaging/line1/camera
        source_options: {{timestamp: ts}}
connectors:
  - name: camera
    type: mqtt
    host: 127.0.0.1
    port: {port}
    qos: 1
    persistent_session: true
"""
    )


async def test_every_published_image_is_stored_once_across_a_restart(
    broker: int, tmp_path: Path
) -> None:
    folder = tmp_path / "project"
    write_project(folder, broker)
    log = tmp_path / "platform.log"
    run = ("-m", "shopfloor.cli.main", "-v", "run", "--duration", "300s", "--project", str(folder))
    first = await start(*run, log=log)
    line = None
    try:
        await asyncio.sleep(0)
        async with asyncio.timeout(60):  # the platform subscribes before the line starts
            while "mqtt.subscribed" not in log.read_text():
                assert first.returncode is None, log.read_text()
                await asyncio.sleep(0.2)
        line = await start(
            "-m", "shopfloor.sim.packaging", "--folder", str(tmp_path / "camera"),
            "--parts", str(PARTS), "--speed", "50", "--size", "32", "--seed", "3",
            "--mqtt-broker", f"127.0.0.1:{broker}", log=tmp_path / "line.log",
        )  # fmt: skip
        try:
            await wait_for(folder, first, log, 60)
        finally:
            first.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                assert await first.wait() == 0, log.read_text()
        await asyncio.sleep(1.0)  # away while the line keeps publishing
        await run_again_until_stored(folder, run, log, line, tmp_path / "line.log", PARTS)
    finally:
        if line is not None and line.returncode is None:
            line.kill()
            await line.wait()

    with (tmp_path / "camera-labels.csv").open() as handle:
        truth = {row["file"]: row["class"] for row in csv.DictReader(handle)}
    assert len(truth) == PARTS
    images, letters = await stored_images(folder, CAMERA)
    assert not letters, letters[:3]
    part_ids = [image.attributes["part_id"] for image in images]
    assert len(images) == PARTS, f"{len(images)} images stored for {PARTS} parts"
    assert sorted(part_ids) == sorted(truth), "an image stored twice, or one missing"
    assert all(image.format == "png" and image.shape == (32, 32, 3) for image in images)
