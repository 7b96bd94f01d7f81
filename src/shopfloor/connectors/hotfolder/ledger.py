"""The hot folder's ledger: which files were handed on, so a restart takes none twice.

A JSON Lines file in the connector's state folder, one entry per file handed to the
engine: its path inside the folder, size, modification time, SHA-256, the signal and the
timestamp it was given. An entry is appended (and fsynced) after ``emit`` returns and
before the file is moved, so after a crash at any point:

- a file in the ledger but still in the folder (crash before the move) is moved at the
  next start, not emitted again;
- a file emitted but not yet in the ledger (crash in between) is emitted again with the
  same timestamp and bytes, and the store keeps it once (a duplicate on
  ``(signal, ts)`` with identical bytes is counted, not stored);
- ``emit`` returns once a record is on the bus, not once it is stored: a crash (SIGKILL,
  power cut) can lose what the bus still held. So at start the entries written after the
  last image the store holds (the signal's resume point) are :func:`unconfirmed` and
  emitted again from ``processed/`` (or the folder, when files are kept); the store keeps
  those it already had once. With ``after: delete`` they are gone and cannot be.

A torn last line (a crash while appending) is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Ledger", "LedgerEntry", "unconfirmed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerEntry:
    """One file handed on: where it was, what it was, and the record it became."""

    file: str
    size: int
    mtime_ns: int
    sha256: str
    signal: str
    ts_ns: int

    @property
    def key(self) -> tuple[str, int, int]:
        """``(file, size, mtime_ns)``: the same file, untouched since."""
        return (self.file, self.size, self.mtime_ns)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> LedgerEntry:
        """An entry from its JSON object; ``KeyError``/``TypeError``/``ValueError`` if not."""
        return cls(
            str(item["file"]),
            int(item["size"]),
            int(item["mtime_ns"]),
            str(item["sha256"]),
            str(item["signal"]),
            int(item["ts_ns"]),
        )


class Ledger:
    """The ledger file at ``path``: entries in the order they were written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     ledger = Ledger(Path(folder) / "ledger.jsonl")
    ...     ledger.append(LedgerEntry("a.png", 10, 5, "ab", "x/y/z/q/r/s/camera", 5))
    ...     [e.file for e in Ledger(Path(folder) / "ledger.jsonl").load()]
    ['a.png']
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[LedgerEntry]:
        """Every readable entry; unreadable lines (a torn last one) are skipped and logged."""
        if not self.path.exists():
            return []
        entries: list[LedgerEntry] = []
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    entries.append(LedgerEntry.from_json(json.loads(line)))
                except (ValueError, KeyError, TypeError) as err:
                    log.warning(
                        "hotfolder.ledger_line_skipped path=%s line=%d error=%s",
                        self.path,
                        number,
                        err,
                    )
        return entries

    def append(self, entry: LedgerEntry) -> None:
        """Append one entry and fsync it (it must outlive a power cut)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = _line(entry)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def rewrite(self, entries: list[LedgerEntry]) -> None:
        """Replace the ledger with ``entries`` atomically (write aside, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        aside = self.path.with_name(self.path.name + ".tmp")
        with aside.open("wb") as out:
            for entry in entries:
                out.write(_line(entry))
            out.flush()
            os.fsync(out.fileno())
        os.replace(aside, self.path)


def _line(entry: LedgerEntry) -> bytes:
    return (json.dumps(asdict(entry), separators=(",", ":")) + "\n").encode("utf-8")


def unconfirmed(entries: list[LedgerEntry], resume: Mapping[str, int]) -> list[LedgerEntry]:
    """The entries the store may not hold yet, in ledger order.

    Per signal (by path), the store holds a prefix of what was emitted, in emission
    (ledger) order, and ``resume`` gives the time of the last image it holds. The entries
    after the last one with that time are unconfirmed; when no entry has it (the latest
    image came by another path), those later than it are; a signal without a resume
    point has none confirmed.

    Examples
    --------
    >>> e = [LedgerEntry(f"{i}.png", 1, i, "", "cam", ts) for i, ts in enumerate([5, 3, 8, 9])]
    >>> [x.ts_ns for x in unconfirmed(e, {"cam": 3})]
    [8, 9]
    >>> [x.ts_ns for x in unconfirmed(e, {"cam": 7})]
    [8, 9]
    >>> [x.ts_ns for x in unconfirmed(e, {})]
    [5, 3, 8, 9]
    """
    last: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if resume.get(entry.signal) == entry.ts_ns:
            last[entry.signal] = i
    out = []
    for i, entry in enumerate(entries):
        point = resume.get(entry.signal)
        if point is None:
            out.append(entry)
        elif entry.signal in last:
            if i > last[entry.signal]:
                out.append(entry)
        elif entry.ts_ns > point:
            out.append(entry)
    return out
