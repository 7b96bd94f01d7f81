"""A hot folder receives 1,000 images while the platform is killed and started again.

The packaging-line simulator (its own process) drops 1,000 carton images into the hot
folder at 50 parts/s; ``shopfloor run`` (a subprocess) takes them; midway it is killed
with SIGKILL, stays down a moment while the line keeps writing, and starts again. At the
end every image the line wrote is stored exactly once, with the part id of its name and
the bytes of its file, and every file is in ``processed/``.
"""

from __future__ import annotations

import asyncio
import csv
import signal
import sys
from pathlib import Path

import pytest

from shopfloor.config import load_project
from shopfloor.model import DeadLetter, ImageRecord, SignalRef
from shopfloor.node.lock import read_lock, read_token
from shopfloor.store import DuckDBStore
from shopfloor.store.remote import RemoteStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LINE = "acme/plant1/packaging/line1/cell1/camera-1"
CAMERA = SignalRef(LINE, "camera")
PARTS = 1000


def write_project(folder: Path) -> None:
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: camera-restart}}
api: {{port: 0}}
assets:
  - path: {LINE}
    signals:
      - {{name: camera, kind: image, connector: camera, source: "*.png"}}
connectors:
  - name: camera
    type: hotfolder
    folder: inbox
    settle_s: 0.3
    poll_s: 0.1
    name_pattern: 'part-(?P<part_id>\\d+)'
"""
    )


async def start(*args: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(sys.executable, *args, stdout=out, stderr=out)


async def stored(folder: Path, proc: asyncio.subprocess.Process, log: Path) -> int:
    """Images stored so far, asked of the running platform (0 while its API is not up)."""
    assert proc.returncode is None, log.read_text()
    state = load_project(folder).state_dir
    lock = read_lock(state)
    if lock is None or lock.api_url is None:
        return 0
    store = RemoteStore(lock.api_url, token=read_token(state))
    try:
        await store.open()
        return await store.count(CAMERA)
    finally:
        await store.close()


async def wait_for(
    folder: Path, proc: asyncio.subprocess.Process, log: Path, at_least: int
) -> None:
    async with asyncio.timeout(120):
        while await stored(folder, proc, log) < at_least:
            await asyncio.sleep(0.3)


async def run_again_until_stored(
    folder: Path,
    run: tuple[str, ...],
    log: Path,
    line: asyncio.subprocess.Process,
    line_log: Path,
    parts: int,
) -> None:
    """Start the platform again, let the line finish, wait for ``parts`` stored, stop it."""
    second = await start(*run, log=log)
    try:
        async with asyncio.timeout(120):
            assert await line.wait() == 0, line_log.read_text()
        await wait_for(folder, second, log, parts)
        await asyncio.sleep(1.0)  # anything more would arrive now
    finally:
        second.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            assert await second.wait() == 0, log.read_text()


async def stored_images(folder: Path, ref: SignalRef) -> tuple[list[ImageRecord], list[DeadLetter]]:
    """The images of ``ref`` and the dead letters of its connector ``camera``, once stopped."""
    project = load_project(folder)
    store = DuckDBStore(project.store_path, project.config.store)
    await store.open()
    try:
        images = await store.read_images(ref, 0, 2**62)
        letters = await store.read_dead_letters(source="camera")
    finally:
        await store.close()
    return images, letters


async def test_a_platform_killed_midway_stores_every_image_once(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    write_project(folder)
    log = tmp_path / "platform.log"
    run = ("-m", "shopfloor.cli.main", "-v", "run", "--duration", "300s", "--project", str(folder))
    line = await start(
        "-m", "shopfloor.sim.packaging", "--folder", str(inbox), "--parts", str(PARTS),
        "--speed", "50", "--size", "32", "--seed", "3", log=tmp_path / "line.log",
    )  # fmt: skip
    try:
        first = await start(*run, log=log)
        try:
            await wait_for(folder, first, log, 200)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        await asyncio.sleep(1.0)  # down while the line keeps writing
        await run_again_until_stored(folder, run, log, line, tmp_path / "line.log", PARTS)
    finally:
        if line.returncode is None:
            line.kill()
            await line.wait()

    with (folder / "inbox-labels.csv").open() as handle:
        truth = {row["file"]: int(row["part_id"]) for row in csv.DictReader(handle)}
    assert len(truth) == PARTS
    images, letters = await stored_images(folder, CAMERA)
    assert not letters, letters[:3]
    files = [i.attributes["source_file"] for i in images]
    assert len(images) == PARTS, f"{len(images)} images stored for {PARTS} parts"
    assert sorted(files) == sorted(truth), "an image stored twice, or one missing"
    for image in images:
        name = image.attributes["source_file"]
        assert int(image.attributes["part_id"]) == truth[name]
        assert image.data == (inbox / "processed" / name).read_bytes()
    assert sorted(p.name for p in inbox.iterdir()) == ["processed"]
