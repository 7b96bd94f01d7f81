"""People who log in to the Studio and their roles (their sessions: :mod:`.sessions`).

A user has a name, one of the :class:`Role` values that API tokens have (viewer <
operator < engineer < admin), and a password kept only as an argon2id hash
(``argon2-cffi``) in the project's ``.shopfloor/users.json`` (mode 0600, beside the
tokens). ``shopfloor users create`` adds one, ``disable`` shuts one out at once: the file
is read again when it changes, and a disabled user's sessions end at their next request.

Examples
--------
>>> users = UserRegistry(None, hasher=FAST_HASHER)
>>> alice = users.add("alice", Role.OPERATOR, "correct horse battery")
>>> users.verify("alice", "correct horse battery").role
<Role.OPERATOR: 'operator'>
>>> users.verify("alice", "guess") is None
True
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shopfloor.errors import ConfigError
from shopfloor.services.options import ROLES

__all__ = [
    "FAST_HASHER",
    "MIN_PASSWORD_CHARS",
    "USERS_NAME",
    "PrivateJson",
    "Role",
    "UserInfo",
    "UserRegistry",
    "check_name",
    "parse_role",
    "write_private",
]

USERS_NAME = "users.json"
MIN_PASSWORD_CHARS = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

T = TypeVar("T")

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""A cheap argon2 hasher for tests and examples; never for real passwords."""


class Role(enum.StrEnum):
    """What a user or token may do; each role allows everything the roles before it allow."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order viewer < operator < engineer < admin."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """True when this role may do what ``needed`` may do.

        Examples
        --------
        >>> Role.ENGINEER.allows(Role.OPERATOR), Role.VIEWER.allows(Role.OPERATOR)
        (True, False)
        """
        return self.rank >= needed.rank


def parse_role(text: str, *, what: str = "--role") -> Role:
    """The role named ``text`` (any case); ``ConfigError`` naming ``what`` otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError as err:
        raise ConfigError(f"{what} {text!r} is not a role; use {ROLES}") from err


def check_name(name: str, *, what: str = "user name") -> str:
    """``name`` if it is 1-64 letters, digits, ``_ . @ -``; ``ConfigError`` otherwise."""
    if not _NAME.match(name):
        raise ConfigError(f"{what} {name!r} must be 1-64 letters, digits, '_', '.', '@' or '-'")
    return name


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class PrivateJson(Generic[T]):
    """A JSON file readable by its owner only, parsed again only when it changed.

    Parameters
    ----------
    path
        The file (``None``: there is none; :meth:`load` gives ``empty``).
    parse
        Turns the file's JSON into what callers use; ``ValueError``, ``KeyError`` or
        ``TypeError`` means the file is malformed.
    empty
        What a missing file holds.
    what
        What the file is, for errors (``"user file"``).
    """

    def __init__(self, path: Path | None, parse: Callable[[Any], T], empty: T, what: str) -> None:
        self.path = path
        self.parse = parse
        self.empty = empty
        self.what = what
        self._value = empty
        self._state: tuple[int, int] | None = None

    def load(self) -> T:
        """The file's contents, read again only when its size or time changed.

        Raises
        ------
        ConfigError
            The file is malformed (naming it).
        """
        if self.path is None:
            return self.empty
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._value, self._state = self.empty, None
            return self.empty
        state = (st.st_mtime_ns, st.st_size)
        if state == self._state:
            return self._value
        try:
            value = self.parse(json.loads(self.path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{self.what} {self.path} is malformed: {err}") from err
        self._value, self._state = value, state
        return value

    def save(self, data: Any) -> None:
        """Write ``data`` as JSON, atomically and readable by its owner only."""
        if self.path is None:
            raise ConfigError(f"there is no {self.what} to write to")
        write_private(self.path, json.dumps(data, indent=2) + "\n")


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class UserInfo:
    """A user as kept at rest: name, role, argon2 hash, creation time, disabled or not."""

    name: str
    role: Role
    password_hash: str
    created_ns: int
    disabled: bool = False

    def as_dict(self) -> dict[str, str | bool]:
        """Name, role, creation time and whether disabled; never the hash."""
        return {
            "name": self.name,
            "role": self.role.value,
            "created": _iso(self.created_ns),
            "disabled": self.disabled,
        }


def _parse_users(data: Any) -> dict[str, UserInfo]:
    return {
        str(u["name"]): UserInfo(
            str(u["name"]),
            Role(u["role"]),
            str(u["password_hash"]),
            int(u["created_ns"]),
            bool(u.get("disabled", False)),
        )
        for u in data["users"]
    }


class UserRegistry:
    """The users of a project: those of a file, plus users added in memory.

    Parameters
    ----------
    path
        The JSON file (``None``: in memory only). It is read again when it changes, so
        users created or disabled while the platform runs take effect at once.
    hasher
        The argon2 hasher (default: argon2-cffi's recommended argon2id parameters).
    """

    def __init__(self, path: Path | None, *, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self.hasher = hasher or PasswordHasher()
        self._memory: dict[str, UserInfo] = {}
        self._file: PrivateJson[dict[str, UserInfo]] = PrivateJson(
            path, _parse_users, {}, "user file"
        )
        self._lock = threading.RLock()
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    # -- reading and writing the file ----------------------------------------------------

    def _load(self) -> dict[str, UserInfo]:
        return self._file.load()

    def _save(self, users: list[UserInfo]) -> None:
        self._file.save(
            {
                "users": [
                    {
                        "name": u.name,
                        "role": u.role.value,
                        "password_hash": u.password_hash,
                        "created_ns": u.created_ns,
                        "disabled": u.disabled,
                    }
                    for u in users
                ]
            }
        )

    def _hash(self, name: str, password: str) -> str:
        if len(password) < MIN_PASSWORD_CHARS:
            raise ConfigError(
                f"the password of user {name!r} has {len(password)} characters; "
                f"give at least {MIN_PASSWORD_CHARS}"
            )
        return self.hasher.hash(password)

    # -- changes --------------------------------------------------------------------------

    def add(self, name: str, role: Role, password: str) -> UserInfo:
        """Accept user ``name`` in memory only (the embedded demo, tests)."""
        info = UserInfo(check_name(name), role, self._hash(name, password), time.time_ns())
        with self._lock:
            self._memory[name] = info
        return info

    def create(self, name: str, role: Role, password: str) -> UserInfo:
        """Create user ``name`` with ``role`` and ``password`` in the file.

        Raises
        ------
        ConfigError
            The name is malformed or taken, or the password shorter than
            :data:`MIN_PASSWORD_CHARS`.
        """
        check_name(name)
        hashed = self._hash(name, password)
        with self._lock:
            users = self.users()
            if any(u.name == name for u in users):
                raise ConfigError(f"user {name!r} exists already")
            info = UserInfo(name, role, hashed, time.time_ns())
            self._save([*users, info])
        return info

    def set_disabled(self, name: str, disabled: bool) -> UserInfo:
        """Disable (or enable again) user ``name`` in the file; its sessions end."""
        with self._lock:
            users = self.users()
            found = next((u for u in users if u.name == name), None)
            if found is None:
                known = ", ".join(u.name for u in users) or "none"
                raise ConfigError(f"no user named {name!r} (known: {known})")
            changed = replace(found, disabled=disabled)
            self._save([changed if u.name == name else u for u in users])
        return changed

    # -- reading --------------------------------------------------------------------------

    def users(self) -> list[UserInfo]:
        """The file's users, oldest first."""
        with self._lock:
            return sorted(self._load().values(), key=lambda u: u.created_ns)

    def get(self, name: str) -> UserInfo | None:
        """User ``name`` (in memory first, then the file), or ``None``."""
        with self._lock:
            return self._memory.get(name) or self._load().get(name)

    def verify(self, name: str, password: str) -> UserInfo | None:
        """The enabled user ``name`` if ``password`` is theirs, else ``None``.

        An unknown or disabled user costs the same hash as a known one, so the answer's
        timing does not tell which names exist. Blocking (argon2): call it off the
        event loop.
        """
        info = self.get(name)
        target = info.password_hash if info is not None else self._dummy
        try:
            self.hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if info is None or info.disabled:
            return None
        return info
