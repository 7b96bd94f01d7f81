"""API tokens: who may call the API, and with which role.

A token is a random secret (``secrets.token_urlsafe(32)``) shown once when it is
created. At rest only its SHA-256 is kept, in a JSON file with mode 0600
(``.shopfloor/tokens.json`` of the project). Roles are ordered, each allowing what the
one before it allows:

========  ==========================================================
viewer    read signals, samples, events, dead letters, status
operator  also write records and dead letters
engineer  also register new signals and delete a range of values (audited)
admin     also redefine signals and apply retention (both audited)
========  ==========================================================
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopfloor.errors import ConfigError
from shopfloor.services.options import TokenOptions
from shopfloor.services.users import PrivateJson, Role, check_name, parse_role

__all__ = ["TOKENS_NAME", "Role", "TokenInfo", "TokenRegistry", "hash_token", "new_secret"]

TOKENS_NAME = "tokens.json"


@dataclass(frozen=True)
class TokenInfo:
    """A token as kept at rest: its name, role, SHA-256 and creation time."""

    name: str
    role: Role
    sha256: str
    created_ns: int

    def as_dict(self) -> dict[str, str]:
        """Name, role and creation time (ISO 8601, seconds); never the hash."""
        created = datetime.fromtimestamp(self.created_ns / 1e9, UTC)
        return {
            "name": self.name,
            "role": self.role.value,
            "created": created.isoformat(timespec="seconds"),
        }


def new_secret() -> str:
    """A new random token secret (32 random bytes, URL-safe base64)."""
    return secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """The SHA-256 of ``secret`` as hex: what is stored instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _parse_tokens(data: Any) -> dict[str, TokenInfo]:
    return {
        str(t["sha256"]): TokenInfo(
            str(t["name"]), Role(t["role"]), str(t["sha256"]), int(t["created_ns"])
        )
        for t in data["tokens"]
    }


class TokenRegistry:
    """The tokens the API accepts: those of a file, plus tokens added in memory.

    Parameters
    ----------
    path
        The JSON file of created tokens (``None``: in memory only). It is read again
        when it changes, so tokens created or revoked while the API runs take effect.

    Examples
    --------
    >>> registry = TokenRegistry()
    >>> secret = registry.add("ci", Role.VIEWER)
    >>> registry.authenticate(secret).role
    <Role.VIEWER: 'viewer'>
    >>> registry.authenticate("guess") is None
    True
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory: dict[str, TokenInfo] = {}
        self._file: PrivateJson[dict[str, TokenInfo]] = PrivateJson(
            path, _parse_tokens, {}, "token file"
        )
        self._lock = threading.Lock()

    # -- in memory ----------------------------------------------------------------------

    def add(self, name: str, role: Role, secret: str | None = None) -> str:
        """Accept ``secret`` (a new one when ``None``) as token ``name``; return the secret."""
        secret = secret or new_secret()
        info = TokenInfo(name, role, hash_token(secret), time.time_ns())
        with self._lock:
            self._memory[info.sha256] = info
        return secret

    # -- the file -----------------------------------------------------------------------

    def _load(self) -> dict[str, TokenInfo]:
        """The file's tokens by hash, read again only when the file changed."""
        return self._file.load()

    def _save(self, tokens: list[TokenInfo]) -> None:
        body = {
            "tokens": [
                {
                    "name": t.name,
                    "role": t.role.value,
                    "sha256": t.sha256,
                    "created_ns": t.created_ns,
                }
                for t in tokens
            ]
        }
        self._file.save(body)

    def create(self, name: str, role: Role) -> str:
        """Create token ``name`` with ``role`` in the file; return its secret (shown once).

        Raises
        ------
        ConfigError
            When the name is malformed or already taken.
        """
        check_name(name, what="token name")
        with self._lock:
            tokens = self.tokens()
            if any(t.name == name for t in tokens):
                raise ConfigError(f"token {name!r} exists already; revoke it first")
            secret = new_secret()
            tokens.append(TokenInfo(name, role, hash_token(secret), time.time_ns()))
            self._save(tokens)
        return secret

    def issue(self, options: TokenOptions) -> dict[str, str]:
        """Create the token ``options`` ask for (named ``ROLE-xxxxxx`` unless named).

        Returns
        -------
        dict
            Its ``name``, ``role`` and ``token`` (the secret, shown this once).

        Raises
        ------
        ConfigError
            When the role is none of the roles, or as :meth:`create` does.
        """
        role = parse_role(options.role)
        name = options.name or f"{role.value}-{secrets.token_hex(3)}"
        return {"name": name, "role": role.value, "token": self.create(name, role)}

    def tokens(self) -> list[TokenInfo]:
        """The file's tokens, oldest first."""
        return sorted(self._load().values(), key=lambda t: t.created_ns)

    def revoke(self, name: str) -> TokenInfo:
        """Remove token ``name`` from the file; ``ConfigError`` when there is none."""
        with self._lock:
            tokens = self.tokens()
            found = next((t for t in tokens if t.name == name), None)
            if found is None:
                known = ", ".join(t.name for t in tokens) or "none"
                raise ConfigError(f"no token named {name!r} (known: {known})")
            self._save([t for t in tokens if t.name != name])
        return found

    # -- checking -----------------------------------------------------------------------

    def authenticate(self, secret: str) -> TokenInfo | None:
        """The token ``secret`` stands for, or ``None`` when unknown or revoked.

        Reads the file when it changed: call it off the event loop.
        """
        digest = hash_token(secret)
        with self._lock:
            candidates = [*self._memory.values(), *self._load().values()]
        found = None
        for info in candidates:
            if hmac.compare_digest(info.sha256, digest):
                found = info
        return found
