"""A platform service that cannot run, standing in for it and saying why in its health."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["PendingService"]

log = logging.getLogger(__name__)


class PendingService:
    """Stands in for service ``name`` when it cannot run; the platform runs on without it.

    Parameters
    ----------
    name
        The service's name (``alerts``, ``deployments``).
    reason
        Why it does not run, shown in its health.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    async def start(self) -> None:
        """Nothing runs."""
        log.warning("%s.not_started reason=%s", self.name, self.reason)

    async def stop(self) -> None:
        """Nothing to stop."""

    def health(self) -> dict[str, Any]:
        """Why it does not run."""
        return {"state": "not running", "reason": self.reason}
