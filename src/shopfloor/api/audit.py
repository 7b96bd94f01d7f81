"""The audit log of destructive API operations: an append-only JSON Lines file.

One line per operation (retention, signal redefinition), whether it succeeded or not::

    {"ts": "2026-12-06T05:30:00.123456Z", "who": "alice", "role": "admin",
     "from": "127.0.0.1", "action": "retention", "outcome": "ok", "detail": {...}}
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["AUDIT_NAME", "AuditLog"]

AUDIT_NAME = "audit.jsonl"


class AuditLog:
    """Append-only audit entries in ``path`` (created with mode 0600).

    Parameters
    ----------
    path
        The JSON Lines file, e.g. the project's ``.shopfloor/audit.jsonl``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    async def record(
        self,
        *,
        who: str,
        role: str,
        client: str | None,
        action: str,
        outcome: str,
        detail: dict[str, Any],
    ) -> None:
        """Append one entry (off the event loop)."""
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "who": who,
            "role": role,
            "from": client,
            "action": action,
            "outcome": outcome,
            "detail": detail,
        }
        line = json.dumps(entry, default=str, separators=(",", ":")) + "\n"
        await asyncio.to_thread(self._append, line)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (blocking: for the CLI and tests)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]
