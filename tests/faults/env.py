"""Fault helpers: a small disk that can be filled and freed, and a project on it.

The disk is a real tmpfs (``mount -t tmpfs -o size=...``) when this process may mount
(root, as on the CI machine). Where mounting is not allowed the tests run against an
injected store failure instead (the store raises the same ``StoreFailed`` a full disk
causes) and log that they did so.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from shopfloor.api.server import api_server_factory
from shopfloor.config import Project, load_project
from shopfloor.errors import StoreFailed
from shopfloor.model import Record
from shopfloor.node import Platform
from shopfloor.node.backends import create_bus, create_store
from shopfloor.node.services import project_services
from shopfloor.store import DuckDBStore, Store, WriteReport

log = logging.getLogger(__name__)

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
RATE_HZ = 500
T0 = "2024-05-01T00:00:00"


def mount_tmpfs(mount: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``mount``; the reason when that is not allowed."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else (done.stderr or "mount failed").strip()


def unmount(mount: Path) -> None:
    """Unmount (lazily, so an open file cannot keep the test from ending)."""
    subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


class SmallDisk:
    """A folder on a small file system that a test fills up and frees again."""

    def __init__(self, mount: Path, *, injected: bool) -> None:
        self.mount = mount
        self.injected = injected
        self.store: InjectedFullStore | None = None
        self._ballast = mount / "ballast.bin"

    def fill(self) -> None:
        """Take every free byte (a real tmpfs) or make the store fail (injected)."""
        if self.store is not None:
            self.store.full = True
            return
        chunk = b"\0" * (1024 * 1024)
        with self._ballast.open("ab", buffering=0) as f:
            for size in (len(chunk), 4096, 512):
                try:
                    while True:
                        f.write(chunk[:size])
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
        log.info("disk.filled mount=%s ballast=%d", self.mount, self._ballast.stat().st_size)

    def free(self) -> None:
        """Give the space back."""
        if self.store is not None:
            self.store.full = False
            return
        self._ballast.unlink(missing_ok=True)


class InjectedFullStore(DuckDBStore):
    """A DuckDB store that behaves as one on a full disk while ``full`` is set."""

    full = False

    def _refuse(self) -> None:
        if self.full:
            raise StoreFailed(
                f"write to {self.path} failed: No space left on device (injected)",
                reason=f"disk full at {self.path}",
            )

    async def write(self, records: Sequence[Record]) -> WriteReport:
        self._refuse()
        return await super().write(records)

    async def reopen(self) -> None:
        self._refuse()
        await super().reopen()


def write_recording(path: Path, n: int) -> None:
    """``n`` samples of ``speed`` at ``RATE_HZ``, values 0, 1, 2, ... (one per row)."""
    import numpy as np
    import pandas as pd

    ts = pd.Timestamp(T0, tz="UTC") + pd.to_timedelta(np.arange(n) / RATE_HZ, unit="s")
    lines = ["time,speed"] + [
        f"{t},{i}" for i, t in enumerate(ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    ]
    path.write_text("\n".join(lines) + "\n")


def replay_project(folder: Path, store_path: Path, recording: str) -> Project:
    """A project whose replay connector streams ``recording`` (in ``folder``) in real time."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: faults}}
api: {{port: 0}}
store: {{path: {store_path}}}
bus: {{queue_size: 32, publish_timeout_s: 0.2, store_batch_size: 16, store_batch_wait_s: 0.05}}
assets:
  - path: {ASSET}
    signals:
      - {{name: speed, unit: rpm, connector: replay, source: speed}}
connectors:
  - name: replay
    type: replay
    path: {recording}
    speed: 1
    retime: false
    step_s: 0.02
    options: {{time_column: time}}
    reconnect: {{initial_s: 0.1, max_s: 0.5}}
"""
    )
    return load_project(folder)


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def platform_on(project: Project, disk: SmallDisk) -> Platform:
    """The project's platform with its API and connectors; its store reopened every 0.3 s."""
    store: Store
    if disk.injected:
        disk.store = store = InjectedFullStore(project.store_path, project.config.store)
    else:
        store = create_store(project)
    return Platform(
        project,
        store,
        create_bus(project.config.bus),
        api=api_server_factory(project, port=0),
        services=project_services(project),
        reopen_interval_s=0.3,
    )
