"""DuckDB's errors, translated into the store's error tree at the boundary.

Our code recognises errors by type (:mod:`shopfloor.errors`); only here, where DuckDB's
own classes are too coarse (one ``IOException`` for a full disk, a lock and a missing
permission), is its message read, once, to pick the type.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from shopfloor.errors import (
    StoreDiskFull,
    StoreError,
    StoreFailed,
    StoreLocked,
    StoreOutOfMemory,
    StoreReadOnly,
)

__all__ = ["translate"]

_DISK_FULL = ("no space left", "disk full", "not enough space", "enospc")
_LOCKED = ("conflicting lock", "could not set lock", "lock on file")
_READ_ONLY = ("read-only", "read only", "permission denied", "readonly")


def translate(err: duckdb.Error, path: str, action: str) -> StoreError:
    """The :class:`StoreError` subclass for ``err``, in plain words naming ``path``.

    Parameters
    ----------
    err
        What DuckDB raised.
    path
        The store file.
    action
        What was being done (``"write"``, ``"open"``), for the message.

    Examples
    --------
    >>> translate(duckdb.IOException("No space left on device"), "/p/s.duckdb", "write")
    StoreDiskFull('disk full at /p: write to /p/s.duckdb failed (No space left on device)')
    """
    text = str(err)
    low = text.lower()
    where = str(Path(path).parent) if path != ":memory:" else path
    if any(word in low for word in _DISK_FULL):
        return StoreDiskFull(
            f"disk full at {where}: {action} to {path} failed ({text})",
            reason=f"disk full at {path}",
        )
    if isinstance(err, duckdb.OutOfMemoryException) or "failed to pin block" in low:
        return StoreOutOfMemory(
            f"out of memory in the store {path}: {action} failed even with spilling to disk; "
            f"raise store.memory_limit ({text})",
            reason=f"out of memory (store.memory_limit) at {path}",
        )
    if isinstance(err, duckdb.IOException | duckdb.PermissionException):
        if any(word in low for word in _LOCKED):
            return StoreLocked(
                f"another process owns the store {path}: {action} refused. The running "
                f"platform owns it; use its API or stop it first ({text})"
            )
        if any(word in low for word in _READ_ONLY):
            return StoreReadOnly(f"the store {path} is read-only: {action} refused ({text})")
        return StoreFailed(f"input/output error on the store {path}: {action} failed ({text})")
    if isinstance(
        err,
        duckdb.FatalException | duckdb.InternalException | duckdb.TransactionException,
    ):
        return StoreFailed(f"the store {path} failed: {action} was not done ({text})")
    return StoreError(f"{action} on the store {path} failed: {text}")
