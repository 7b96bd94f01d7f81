"""A camera on loopback for the hot-folder tests: images dropped into a folder."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.config import ReconnectPolicy
from shopfloor.connectors.hotfolder.config import HotFolderConfig
from shopfloor.model import Signal, SignalKind, SignalRef
from shopfloor.testing import ConnectorFixture

LINE = "acme/plant1/packaging/line1/cell1/camera-1"
CAMERA = SignalRef(LINE, "camera")
FAST = ReconnectPolicy(initial_s=0.1, max_s=0.5, jitter=0.1)


def png(seed: int, size: int = 16) -> bytes:
    """A small PNG that differs for every seed."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def drop(folder: Path, name: str, data: bytes) -> Path:
    """Write a file whole (aside, then renamed), as a camera that writes atomically does."""
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = target.with_name(f".{target.name}.tmp")
    aside.write_bytes(data)
    os.replace(aside, target)
    return target


def camera_signal(source: str = "*.png") -> BoundSignal:
    """The image signal a hot folder feeds."""
    return BoundSignal(CAMERA, Signal(name="camera", kind=SignalKind.IMAGE), source)


class Camera:
    """Drops an image every ``period_s``; ``interrupt`` unmounts the folder (renames it)."""

    def __init__(self, folder: Path, period_s: float) -> None:
        self.folder = folder
        self.away = folder.with_name(folder.name + ".away")
        self.period_s = period_s
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            if self.folder.is_dir():
                with contextlib.suppress(FileNotFoundError):
                    drop(self.folder, f"part-{self.count:06d}.png", png(self.count))
                    self.count += 1
            await asyncio.sleep(self.period_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="camera")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def interrupt(self) -> None:
        self.folder.rename(self.away)

    async def restore(self) -> None:
        self.away.rename(self.folder)


@asynccontextmanager
async def hotfolder_fixture(folder: Path) -> AsyncIterator[ConnectorFixture]:
    """A hot folder with a camera dropping ten images a second into it."""
    inbox = folder / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    camera = Camera(inbox, 0.1)
    config = HotFolderConfig(
        name="camera", folder="inbox", settle_s=0.2, poll_s=0.05, reconnect=FAST
    )
    camera.start()
    try:
        yield ConnectorFixture(config, [camera_signal()], camera, CAMERA, 0.1, root=folder)
    finally:
        await camera.stop()
