"""The store-and-forward journal: an on-disk FIFO of records waiting for the bus.

When the bus (and behind it the store) cannot keep up, or is down, a connector's records
go here instead of into memory, and are replayed in order when it is back.

Layout: a folder of segment files ``000000000001.seg`` ... each a sequence of frames
``[u32 length][u32 crc32][payload]`` (payload: one record as an Arrow IPC stream), plus
``position.json`` with the read position. Appends go to the newest segment; a segment
that reaches ``segment_bytes`` is closed and a new one begun.

Policy when full (``max_bytes``): the **oldest** segments are deleted first, read or not,
so the newest data survives a long outage; every record dropped that way is counted and
reported to the caller (which dead-letters the loss with its time range), never silent.

Crash safety: a frame torn by a crash (short or with a bad checksum) ends its segment;
the read position is advanced only after the records before it were handed on, so a
crash replays a few records twice (the store keeps one) and loses none.

Blocking file I/O: callers run these methods in a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Journal", "JournalPosition"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")


@dataclass(frozen=True, order=True)
class JournalPosition:
    """Where the next unread frame starts."""

    segment: int
    offset: int


class Journal:
    """A bounded, append-only, crash-safe FIFO of byte payloads on disk.

    Parameters
    ----------
    directory
        Its folder (created when missing).
    max_bytes
        Size cap of all segments; beyond it the oldest segments are dropped.
    segment_bytes
        Size at which a segment is closed.
    on_drop
        Called with (frames dropped, bytes dropped) when the cap drops data.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1024**3,
        segment_bytes: int = 16 * 1024**2,
        on_drop: Callable[[int, int], None] | None = None,
    ) -> None:
        if segment_bytes * 2 > max_bytes:
            raise ValueError(
                f"journal segment_bytes ({segment_bytes}) must be at most half of max_bytes "
                f"({max_bytes})"
            )
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._on_drop = on_drop
        # appends and commits come from different worker threads
        self._lock = threading.RLock()
        directory.mkdir(parents=True, exist_ok=True)
        self._segments = sorted(int(p.stem) for p in directory.glob("*.seg"))
        self._position = self._load_position()
        self._writer: int | None = None
        self._writer_size = 0
        self.appended = 0
        self.dropped = 0
        self._pending = self._count_pending()

    # -- state ----------------------------------------------------------------------------

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}.seg"

    def _load_position(self) -> JournalPosition:
        try:
            data = json.loads((self.directory / "position.json").read_text())
            position = JournalPosition(int(data["segment"]), int(data["offset"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            position = JournalPosition(self._segments[0] if self._segments else 1, 0)
        if self._segments and position.segment < self._segments[0]:
            position = JournalPosition(self._segments[0], 0)
        return position

    def _save_position(self) -> None:
        tmp = self.directory / "position.tmp"
        tmp.write_text(
            json.dumps({"segment": self._position.segment, "offset": self._position.offset})
        )
        os.replace(tmp, self.directory / "position.json")

    def _frames(
        self, segment: int, start: int, limit: int | None = None
    ) -> list[tuple[int, int, bytes]]:
        """(offset, end, payload) of up to ``limit`` intact frames of a segment from ``start``."""
        out: list[tuple[int, int, bytes]] = []
        try:
            f = self._path(segment).open("rb")
        except FileNotFoundError:
            return out
        with f:
            f.seek(start)
            offset = start
            while limit is None or len(out) < limit:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                length, crc = _HEADER.unpack(header)
                payload = f.read(length)
                if len(payload) < length:
                    break  # torn by a crash while writing: the segment ends here
                if zlib.crc32(payload) != crc:
                    log.error("journal.corrupt_frame segment=%d offset=%d", segment, offset)
                    break
                end = offset + _HEADER.size + length
                out.append((offset, end, payload))
                offset = end
        return out

    def _count_pending(self) -> int:
        total = 0
        for segment in self._segments:
            if segment < self._position.segment:
                continue
            start = self._position.offset if segment == self._position.segment else 0
            total += len(self._frames(segment, start))
        return total

    @property
    def pending(self) -> int:
        """Frames appended and not yet committed as read."""
        return self._pending

    @property
    def empty(self) -> bool:
        """True when nothing waits to be replayed."""
        return self._pending == 0

    @property
    def size_bytes(self) -> int:
        """Bytes on disk over all segments."""
        return sum(self._path(s).stat().st_size for s in self._segments if self._path(s).exists())

    # -- writing ------------------------------------------------------------------------

    def append(self, payloads: list[bytes]) -> None:
        """Append payloads in order and flush them to the operating system."""
        if not payloads:
            return
        with self._lock:
            self._append(payloads)

    def _append(self, payloads: list[bytes]) -> None:
        if self._writer is None or self._writer_size >= self.segment_bytes:
            self._roll()
        assert self._writer is not None
        frames = b"".join(_HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        with self._path(self._writer).open("ab") as f:
            f.write(frames)
            f.flush()
            os.fsync(f.fileno())
        self._writer_size += len(frames)
        self.appended += len(payloads)
        self._pending += len(payloads)
        self._enforce_cap()

    def _roll(self) -> None:
        segment = (self._segments[-1] + 1) if self._segments else max(1, self._position.segment)
        self._path(segment).touch()
        self._segments.append(segment)
        self._writer = segment
        self._writer_size = 0

    def _enforce_cap(self) -> None:
        sizes = {s: self._path(s).stat().st_size for s in self._segments}
        total = sum(sizes.values())
        while total > self.max_bytes and len(self._segments) > 1:
            oldest = self._segments[0]
            start = self._position.offset if oldest == self._position.segment else 0
            unread = len(self._frames(oldest, start)) if oldest >= self._position.segment else 0
            self._path(oldest).unlink(missing_ok=True)
            self._segments.pop(0)
            total -= sizes[oldest]
            if oldest >= self._position.segment:
                self._position = JournalPosition(self._segments[0], 0)
                self._save_position()
            if unread:
                self._pending -= unread
                self.dropped += unread
                log.error(
                    "journal.full dropped=%d bytes=%d dir=%s", unread, sizes[oldest], self.directory
                )
                if self._on_drop is not None:
                    self._on_drop(unread, sizes[oldest])

    # -- reading ------------------------------------------------------------------------

    def read(self, max_items: int) -> list[tuple[bytes, JournalPosition]]:
        """Up to ``max_items`` payloads from the read position, each with the position after it.

        Nothing is consumed until :meth:`commit`.
        """
        with self._lock:
            return self._read(max_items)

    def _read(self, max_items: int) -> list[tuple[bytes, JournalPosition]]:
        out: list[tuple[bytes, JournalPosition]] = []
        position = self._position
        for segment in self._segments:
            if segment < position.segment:
                continue
            start = position.offset if segment == position.segment else 0
            for _, end, payload in self._frames(segment, start, max_items - len(out)):
                position = JournalPosition(segment, end)
                out.append((payload, position))
            if len(out) >= max_items:
                break
        return out

    def commit(self, position: JournalPosition, count: int) -> None:
        """Mark the ``count`` frames before ``position`` as handed on."""
        with self._lock:
            self._commit(position, count)

    def _commit(self, position: JournalPosition, count: int) -> None:
        self._position = position
        self._pending = max(0, self._pending - count)
        self._save_position()
        for segment in list(self._segments):
            if segment < position.segment and segment != self._writer:
                self._path(segment).unlink(missing_ok=True)
                self._segments.remove(segment)
