"""The audit log of the API: an append-only JSON Lines file.

One line per destructive operation (retention, signal redefinition, deleting a range),
whether it succeeded or not::

    {"ts": "2026-12-06T05:30:00.123456Z", "who": "alice", "role": "admin",
     "from": "127.0.0.1", "action": "retention", "outcome": "ok", "detail": {...}}

and one line per request refused for its token: a role too low for the route (403), or
a token presented that is unknown or revoked (401). ``who`` is the token's name, or
``"unknown token"``; the token itself is never written::

    {"ts": "2026-12-06T05:31:02.000001Z", "who": "dashboard", "role": "viewer",
     "from": "127.0.0.1", "action": "refused", "outcome": "PermissionDenied",
     "status": 403, "method": "POST", "path": "/api/v1/retention",
     "reason": "POST /api/v1/retention needs the admin role; token 'dashboard' has viewer"}

Every refusal is written; none is sampled or rate-limited away.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["AUDIT_NAME", "UNKNOWN_TOKEN", "AuditLog"]

AUDIT_NAME = "audit.jsonl"
UNKNOWN_TOKEN = "unknown token"
"""``who`` of a refusal whose token is unknown or revoked."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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
            "ts": _now(),
            "who": who,
            "role": role,
            "from": client,
            "action": action,
            "outcome": outcome,
            "detail": detail,
        }
        await self._write(entry)

    async def refused(
        self,
        *,
        who: str,
        role: str | None,
        client: str | None,
        method: str,
        path: str,
        status: int,
        error: str,
        reason: str,
    ) -> None:
        """Append one refused request (off the event loop).

        Parameters
        ----------
        who
            The token's name, or :data:`UNKNOWN_TOKEN`; never the token itself.
        role
            The token's role (``None`` for an unknown token).
        client
            The client's address.
        method, path
            What was asked (the path without its query).
        status
            The HTTP status answered (401, 403).
        error
            The error class answered (``PermissionDenied``...), kept as ``outcome``.
        reason
            The answer's message.
        """
        await self._write(
            {
                "ts": _now(),
                "who": who,
                "role": role,
                "from": client,
                "action": "refused",
                "outcome": error,
                "status": status,
                "method": method,
                "path": path,
                "reason": reason,
            }
        )

    async def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str, separators=(",", ":")) + "\n"
        await asyncio.to_thread(self._append, line)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (blocking: for the CLI and tests)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]
