"""What the Studio works with: the project, its store, the platform's status, the users.

The Studio sits beside the API (neither imports the other); whoever serves both hands
the same :class:`~shopfloor.services.sessions.SessionStore` and audit log to each, so a
browser logged in to the Studio may also call the API with its session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shopfloor.config import Project
from shopfloor.services.sessions import LoginThrottle, SessionStore
from shopfloor.services.users import UserRegistry
from shopfloor.store import Store

__all__ = ["AuditTrail", "StatusProvider", "StudioContext"]

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


class AuditTrail(Protocol):
    """Where logins and changes are recorded (the API's :class:`~shopfloor.api.audit.AuditLog`)."""

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
        """Append one entry."""

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
        """Append one refused request."""


@dataclass(frozen=True)
class StudioContext:
    """The Studio's collaborators.

    Parameters
    ----------
    project
        The project (assets, model registry, alert rules).
    store
        The platform's store; the Studio reads and changes it through the services.
    users
        Who may log in.
    sessions
        Open browser sessions (shared with the API).
    audit
        Where logins, refusals and changes are recorded (``None``: nowhere).
    status
        The running platform's status (connectors' health), when there is one.
    local_user
        Single-user mode: every browser is this admin without a login. Only for the
        embedded demo bound to 127.0.0.1; the page header says so.
    throttle
        Slows down password guessing (failed logins by name and by address).
    """

    project: Project
    store: Store
    users: UserRegistry
    sessions: SessionStore
    audit: AuditTrail | None = None
    status: StatusProvider | None = None
    local_user: str | None = None
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
