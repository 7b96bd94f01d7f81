"""Fixtures of the fault suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from .env import SmallDisk, mount_tmpfs, unmount

log = logging.getLogger(__name__)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 16 MB tmpfs at ``tmp_path/disk``; an injected failure where mounting is refused."""
    mount = tmp_path / "disk"
    mount.mkdir()
    refused = mount_tmpfs(mount, "16m")
    if refused is not None:
        log.warning("faults.no_tmpfs reason=%r: an injected store failure instead", refused)
        yield SmallDisk(mount, injected=True)
        return
    try:
        yield SmallDisk(mount, injected=False)
    finally:
        unmount(mount)
