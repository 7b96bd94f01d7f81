"""Who owns the project's store: the lock file of a running platform.

``.shopfloor/platform.json`` holds the platform's process id and API address while it
runs. Other processes read it to reach the platform through its API instead of opening
the DuckDB file, which only one process may write. Beside it, ``platform.token`` (mode
0600, so only the platform's user can read it) holds the admin token the platform made
for its own user's commands.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "PlatformLock",
    "read_lock",
    "read_token",
    "remove_lock",
    "remove_token",
    "write_lock",
    "write_token",
]

LOCK_NAME = "platform.json"
TOKEN_NAME = "platform.token"


@dataclass(frozen=True)
class PlatformLock:
    """A running platform: its process, its API and when it started."""

    pid: int
    api_url: str | None
    started_ns: int
    project: str

    @property
    def alive(self) -> bool:
        """True when the process still exists."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def write_lock(state_dir: Path, lock: PlatformLock) -> Path:
    """Write the lock atomically (write then rename)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(lock), indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def read_lock(state_dir: Path) -> PlatformLock | None:
    """The lock of a platform whose process is alive, else ``None`` (stale locks ignored)."""
    path = state_dir / LOCK_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        lock = PlatformLock(
            int(data["pid"]),
            data.get("api_url"),
            int(data["started_ns"]),
            str(data.get("project", "")),
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return lock if lock.alive else None


def remove_lock(state_dir: Path, pid: int | None = None) -> None:
    """Remove the lock if it is ours (``pid``) or stale."""
    path = state_dir / LOCK_NAME
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if pid is None or int(data["pid"]) == pid:
            path.unlink()


def write_token(state_dir: Path, secret: str) -> Path:
    """Write the platform's own API token, readable by its owner only (mode 0600)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / TOKEN_NAME
    tmp = path.with_name(f".{TOKEN_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def read_token(state_dir: Path) -> str | None:
    """The running platform's own API token, or ``None`` when there is none (or no access)."""
    try:
        text = (state_dir / TOKEN_NAME).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, PermissionError):
        return None
    return text or None


def remove_token(state_dir: Path) -> None:
    """Remove the platform's own API token."""
    with contextlib.suppress(FileNotFoundError):
        (state_dir / TOKEN_NAME).unlink()
