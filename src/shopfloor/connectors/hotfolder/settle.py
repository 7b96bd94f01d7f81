"""When a file in the folder is complete: its size and time unchanged for ``settle_s``.

A camera's FTP upload grows the file under its final name; nothing in the file says it
is done. Polling is portable (SMB and NFS shares send no inotify events), so each
listing feeds :meth:`Settler.observe` and a file is ready once it has looked the same
for ``settle_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Settler"]


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since_s: float


class Settler:
    """Tracks the files of a folder between listings.

    Parameters
    ----------
    settle_s
        How long a file's size and modification time must stay unchanged.

    Examples
    --------
    >>> settler = Settler(1.0)
    >>> settler.observe("a.png", 10, 5, now_s=0.0)
    False
    >>> settler.observe("a.png", 20, 6, now_s=0.8)   # still growing
    False
    >>> settler.observe("a.png", 20, 6, now_s=1.5)   # unchanged for 0.7 s
    False
    >>> settler.observe("a.png", 20, 6, now_s=1.9)
    True
    """

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._seen: dict[str, _Seen] = {}

    def observe(self, name: str, size: int, mtime_ns: int, *, now_s: float) -> bool:
        """Note ``name`` as listed at ``now_s``; ``True`` once it has settled."""
        seen = self._seen.get(name)
        if seen is None or seen.size != size or seen.mtime_ns != mtime_ns:
            self._seen[name] = _Seen(size, mtime_ns, now_s)
            return False
        return now_s - seen.since_s >= self.settle_s

    def forget(self, name: str) -> None:
        """``name`` was taken (or is gone): stop tracking it."""
        self._seen.pop(name, None)

    def keep_only(self, names: set[str]) -> None:
        """Forget files no longer listed."""
        for name in [n for n in self._seen if n not in names]:
            del self._seen[name]

    def __len__(self) -> int:
        return len(self._seen)
