"""Browser sessions: who a logged-in browser is, its CSRF token, and login throttling.

A login opens a :class:`Session`: an opaque random id (the cookie's value), the user and
role, an expiry, and a CSRF token that every form POST (and every htmx request, as the
``X-CSRF-Token`` header) must carry. Sessions live in the memory of the running
platform; restarting it logs everyone out. Each request looks its user up again
(:class:`~shopfloor.services.users.UserRegistry`): a disabled user's session ends, a
changed role applies. :class:`LoginThrottle` slows password guessing down.

Examples
--------
>>> from shopfloor.services.users import FAST_HASHER, Role, UserRegistry
>>> users = UserRegistry(None, hasher=FAST_HASHER)
>>> alice = users.add("alice", Role.OPERATOR, "correct horse battery")
>>> sessions = SessionStore(users)
>>> session = sessions.open(alice)
>>> sessions.get(session.id).user
'alice'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, replace

from shopfloor.errors import TooManyAttempts
from shopfloor.services.users import Role, UserInfo, UserRegistry

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "LoginThrottle",
    "Session",
    "SessionStore",
]

SESSION_COOKIE = "shopfloor_session"
"""Name of the session cookie (HttpOnly, SameSite=Strict)."""
CSRF_FIELD = "csrf_token"
"""Form field that carries the session's CSRF token."""
CSRF_HEADER = "x-csrf-token"
"""Header that carries the session's CSRF token (htmx requests, API calls by cookie)."""


@dataclass(frozen=True)
class Session:
    """A logged-in browser: opaque id, user, role, CSRF token, expiry (UTC ns)."""

    id: str
    user: str
    role: Role
    csrf: str
    expires_ns: int
    local: bool = False

    def csrf_ok(self, token: str | None) -> bool:
        """True when ``token`` is this session's CSRF token (constant-time compare)."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class SessionStore:
    """Open sessions of a platform, in memory.

    Parameters
    ----------
    users
        Where a session's user is looked up again on every request (disabled: it ends;
        its role changed: the new role applies). ``None``: sessions are taken as opened.
    ttl_s
        How long a session lasts after login.
    """

    def __init__(self, users: UserRegistry | None, *, ttl_s: float = 8 * 3600.0) -> None:
        self.users = users
        self.ttl_s = ttl_s
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()

    def open(self, user: UserInfo, *, local: bool = False) -> Session:
        """A new session of ``user`` (``local``: the single-user mode's, not a login)."""
        session = Session(
            secrets.token_urlsafe(32),
            user.name,
            user.role,
            secrets.token_urlsafe(32),
            time.time_ns() + round(self.ttl_s * 1e9),
            local,
        )
        with self._lock:
            self._drop_expired()
            self._open[self._key(session.id)] = session
        return session

    def _drop_expired(self) -> None:
        now = time.time_ns()
        for key in [k for k, s in self._open.items() if s.expires_ns <= now]:
            del self._open[key]

    def get(self, session_id: str | None) -> Session | None:
        """The open session ``session_id``, or ``None`` (unknown, expired, user disabled)."""
        if not session_id:
            return None
        key = self._key(session_id)
        with self._lock:
            session = self._open.get(key)
            if session is None:
                return None
            if session.expires_ns <= time.time_ns():
                del self._open[key]
                return None
        if self.users is None or session.local:
            return session
        info = self.users.get(session.user)
        if info is None or info.disabled:
            self.close(session_id)
            return None
        return session if info.role == session.role else replace(session, role=info.role)

    def close(self, session_id: str) -> None:
        """End session ``session_id`` (logout); nothing happens when it is not open."""
        with self._lock:
            self._open.pop(self._key(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._open)


class LoginThrottle:
    """Failed logins by user name and by client address, over a sliding window.

    After ``per_name`` failures for one name, or ``per_client`` from one address, within
    ``window_s``, further logins (even right ones) are refused until the oldest failure
    leaves the window: guessing passwords becomes slow, and a user whose name is being
    guessed is not locked out for longer than the window.

    Examples
    --------
    >>> throttle = LoginThrottle(per_name=2)
    >>> throttle.failed("ana", "10.0.0.9"); throttle.failed("ana", "10.0.0.9")
    >>> throttle.check("ana", "10.0.0.7")
    Traceback (most recent call last):
    ...
    shopfloor.errors.TooManyAttempts: 2 failed logins for user 'ana' within 300 s; try again later
    """

    def __init__(self, *, per_name: int = 5, per_client: int = 20, window_s: float = 300.0) -> None:
        self.per_name = per_name
        self.per_client = per_client
        self.window_s = window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def check(self, name: str, client: str | None) -> None:
        """Refuse a login now (:class:`~shopfloor.errors.TooManyAttempts`) or let it try."""
        now = time.monotonic()
        with self._lock:
            by_name = len(self._recent(f"user:{name}", now))
            by_client = len(self._recent(f"from:{client}", now))
        if by_name >= self.per_name:
            raise TooManyAttempts(
                f"{by_name} failed logins for user {name!r} within {self.window_s:g} s; "
                "try again later"
            )
        if by_client >= self.per_client:
            raise TooManyAttempts(
                f"{by_client} failed logins from {client} within {self.window_s:g} s; "
                "try again later"
            )

    def failed(self, name: str, client: str | None) -> None:
        """Count a failed login."""
        now = time.monotonic()
        with self._lock:
            for key in (f"user:{name}", f"from:{client}"):
                self._failures.setdefault(key, []).append(now)
            if len(self._failures) > 10_000:  # forget names tried long ago
                for key in list(self._failures):
                    self._recent(key, now)

    def succeeded(self, name: str) -> None:
        """Forget the failures of ``name`` (a right password after a typo)."""
        with self._lock:
            self._failures.pop(f"user:{name}", None)
