"""The hot-folder connector: images a camera drops into a folder, each stored once.

Each poll lists the folder (sub-folders too, except ``processed/``, ``rejected/`` and
hidden entries); a file is taken once it has settled (:mod:`.settle`), matched to the
image signal whose ``source`` glob it matches, decoded (:func:`~shopfloor.model.imaging.
inspect_image`: format and shape, or a dead letter naming the file and the reason, the
file moved to ``rejected/``), and emitted as an :class:`~shopfloor.model.ImageRecord`
with its time and attributes (:mod:`.names`). Then it is written to the ledger
(:mod:`.ledger`) and moved to ``processed/``, deleted, or kept. The ledger is what makes a
restart, clean or not, store every image exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections import deque
from pathlib import Path, PurePosixPath

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.hotfolder.config import HotFolderConfig
from shopfloor.connectors.hotfolder.ledger import Ledger, LedgerEntry, unconfirmed
from shopfloor.connectors.hotfolder.names import FileNaming
from shopfloor.connectors.hotfolder.settle import Settler
from shopfloor.errors import ConfigError, ConnectorNotReady, ImageTooLarge, RecordError
from shopfloor.model import ImageRecord, Provenance, SignalKind, SignalRef
from shopfloor.model.imaging import ImageInfo, image_letter, inspect_image

__all__ = ["HotFolderConnector"]

log = logging.getLogger(__name__)

Listed = tuple[str, int, int]
"""``(path inside the folder, size, mtime_ns)`` of a file."""


class HotFolderConnector:
    """Watches a folder and emits each settled image once (see the module docstring)."""

    def __init__(
        self, config: HotFolderConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.config = config
        self.context = context
        for bound in signals:
            if bound.definition.kind != SignalKind.IMAGE:
                raise ConfigError(
                    f"hot folder {config.name!r}: signal {bound.ref.path!r} is a "
                    f"{bound.definition.kind} signal; a hot folder feeds image signals"
                )
            if not bound.address:
                raise ConfigError(
                    f"hot folder {config.name!r}: signal {bound.ref.path!r} names no file "
                    "glob in `source` (e.g. '*.png')"
                )
        self._globs = [(bound.address, bound.ref) for bound in signals]
        self.folder = context.resolve(config.folder)
        self.processed_dir = self.folder / config.processed
        self.rejected_dir = self.folder / config.rejected
        self.naming = FileNaming(
            config.name_pattern,
            config.timestamp == "name",
            config.ts_format,
            config.timezone,
            config.labels_from == "folder",
        )
        self.ledger = Ledger(context.state_dir / "ledger.jsonl")
        self.settler = Settler(config.settle_s)
        self.emitted = 0
        self.rejected = 0
        self.reemitted = 0
        self._done: dict[tuple[str, int, int], LedgerEntry] = {}
        self._order: deque[LedgerEntry] = deque()
        self._used_ts: dict[str, set[int]] = {}
        self._recovered = False

    # -- what a file is -------------------------------------------------------------------

    def signal_for(self, relpath: str) -> SignalRef | None:
        """The signal whose glob matches ``relpath`` first (in declaration order)."""
        path = PurePosixPath(relpath)
        for pattern, ref in self._globs:
            if path.match(pattern):
                return ref
        return None

    def _list(self) -> list[Listed]:
        """Every file of the folder a signal takes; ``ConnectorNotReady`` when it is gone."""
        if not self.folder.is_dir():
            raise ConnectorNotReady(f"hot folder {self.name!r}: {self.folder} is not a folder")
        skip = {self.config.processed, self.config.rejected}
        found: list[Listed] = []
        pending = [(self.folder, "")]
        while pending:
            where, prefix = pending.pop()
            try:
                entries = list(os.scandir(where))
            except FileNotFoundError:
                if where == self.folder:
                    raise ConnectorNotReady(
                        f"hot folder {self.name!r}: {self.folder} disappeared"
                    ) from None
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # hidden: a writer's temporary file
                relpath = f"{prefix}{entry.name}"
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not (prefix == "" and entry.name in skip):
                            pending.append((Path(entry.path), f"{relpath}/"))
                        continue
                    if not entry.is_file() or self.signal_for(relpath) is None:
                        continue
                    stat = entry.stat()
                except FileNotFoundError:
                    continue  # taken away while listing
                found.append((relpath, stat.st_size, stat.st_mtime_ns))
        return found

    # -- the ledger -----------------------------------------------------------------------

    def _remember(self, entry: LedgerEntry) -> None:
        self._done[entry.key] = entry
        self._used_ts.setdefault(entry.signal, set()).add(entry.ts_ns)
        self._order.append(entry)
        if len(self._order) > self.config.ledger_keep:
            old = self._order.popleft()
            self._used_ts.get(old.signal, set()).discard(old.ts_ns)
            if self.config.after != "keep":  # a kept file must stay known while it is there
                self._done.pop(old.key, None)

    def _free_ts(self, signal: str, ts_ns: int) -> int:
        """``ts_ns``, or the next nanosecond free of another file's image of ``signal``.

        Two files can share a modification time (coarse file system clocks) or a name's
        time (one-second resolution): the second is moved on by a nanosecond rather than
        refused as a conflict. Deterministic given the ledger, so a file emitted again
        after a crash gets the time it had.
        """
        used = self._used_ts.get(signal, set())
        while ts_ns in used:
            ts_ns += 1
        return ts_ns

    def _stored_copy(self, entry: LedgerEntry) -> Path | None:
        """Where the file of a ledger entry is now, to emit it again (``None``: deleted)."""
        if self.config.after == "move":
            return self.processed_dir / entry.file
        if self.config.after == "keep":
            return self.folder / entry.file
        return None

    async def _recover(self) -> None:
        """At start: finish moves a crash interrupted, emit again what may not be stored."""
        entries = await asyncio.to_thread(self.ledger.load)
        self._done.clear()  # a recovery that failed half-way starts over
        self._order.clear()
        self._used_ts.clear()
        for entry in entries:
            self._remember(entry)
        listed = {(r, s, m) for r, s, m in await asyncio.to_thread(self._list)}
        if self.config.after != "keep":
            for entry in entries:
                if entry.key in listed:
                    await asyncio.to_thread(self._finish, entry.file)
        resume = {ref.path: ts for ref, ts in self.context.resume.items()}
        for entry in unconfirmed(entries, resume):
            await self._emit_again(entry)
        if len(entries) > self.config.ledger_keep:
            keep = entries[-self.config.ledger_keep :]
            if self.config.after == "keep":
                tail = {e.key for e in keep}
                keep = [e for e in entries if e.key in listed and e.key not in tail] + keep
            await asyncio.to_thread(self.ledger.rewrite, keep)
        self._recovered = True
        if entries:
            log.info(
                "hotfolder.recovered connector=%s ledger=%d emitted_again=%d",
                self.name,
                len(entries),
                self.reemitted,
            )

    async def _emit_again(self, entry: LedgerEntry) -> None:
        path = self._stored_copy(entry)
        ref = next((r for _, r in self._globs if r.path == entry.signal), None)
        if path is None or ref is None:
            log.warning(
                "hotfolder.cannot_emit_again connector=%s file=%s reason=%s",
                self.name,
                entry.file,
                "deleted (after: delete)" if path is None else "its signal is no longer bound",
            )
            return
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            log.warning("hotfolder.cannot_emit_again connector=%s file=%s", self.name, path)
            return
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            log.warning("hotfolder.changed_since connector=%s file=%s", self.name, path)
            return
        info = await asyncio.to_thread(inspect_image, data, name=entry.file)
        attributes = self.naming.read(entry.file).attributes
        await self.context.emit([self._record(ref, entry.ts_ns, data, info, attributes)])
        self.reemitted += 1

    # -- taking files ---------------------------------------------------------------------

    def _record(
        self,
        ref: SignalRef,
        ts_ns: int,
        data: bytes,
        info: ImageInfo,
        attributes: dict[str, str],
    ) -> ImageRecord:
        address = next(pattern for pattern, r in self._globs if r == ref)
        return ImageRecord(
            ref,
            ts_ns,
            data,
            info.format,
            info.shape,
            Provenance(self.name, address),
            attributes=attributes,
        )

    def _finish(self, relpath: str) -> None:
        """Move a handed-on file to ``processed/``, delete it, or keep it."""
        source = self.folder / relpath
        if self.config.after == "keep":
            return
        try:
            if self.config.after == "delete":
                source.unlink()
                return
            target = self.processed_dir / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        except FileNotFoundError:
            pass  # already moved (a crash after the move, before anything else)

    def _move_rejected(self, relpath: str) -> str:
        target = self.rejected_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):  # already moved
            os.replace(self.folder / relpath, target)
        return f"{self.config.rejected}/{relpath}"

    async def _reject(
        self, relpath: str, ref: SignalRef, size: int, error: RecordError, data: bytes = b""
    ) -> None:
        moved = await asyncio.to_thread(self._move_rejected, relpath)
        self.rejected += 1
        letter = image_letter(
            error,
            source=self.name,
            location=str(self.folder / relpath),
            signal=ref,
            name=relpath,
            size=size,
            data=data,
            moved_to=moved,
        )
        log.info(
            "hotfolder.rejected connector=%s file=%s category=%s",
            self.name,
            relpath,
            letter.detail["category"],
        )
        await self.context.reject([letter])

    async def _take(self, relpath: str, size: int, mtime_ns: int) -> None:
        """Emit one settled file, ledger it and finish it (or reject it)."""
        ref = self.signal_for(relpath)
        if ref is None:
            return
        self.settler.forget(relpath)
        limit = self.config.max_bytes
        if size > limit:
            error = ImageTooLarge(f"{relpath}: file of {size} bytes exceeds max_bytes {limit}")
            await self._reject(relpath, ref, size, error)
            return
        try:
            data = await asyncio.to_thread((self.folder / relpath).read_bytes)
        except FileNotFoundError:
            return  # taken by someone else
        if len(data) != size:
            return  # changed since it was listed: it settles again
        try:
            info = await asyncio.to_thread(inspect_image, data, name=relpath, max_bytes=limit)
            found = self.naming.read(relpath)
        except RecordError as err:
            await self._reject(relpath, ref, size, err, data)
            return
        ts_ns = self._free_ts(ref.path, mtime_ns if found.ts_ns is None else found.ts_ns)
        await self.context.emit([self._record(ref, ts_ns, data, info, found.attributes)])
        self.emitted += 1
        entry = LedgerEntry(
            relpath, size, mtime_ns, hashlib.sha256(data).hexdigest(), ref.path, ts_ns
        )
        await asyncio.to_thread(self.ledger.append, entry)
        self._remember(entry)
        await asyncio.to_thread(self._finish, relpath)

    # -- the connector protocol -----------------------------------------------------------

    async def connect(self) -> None:
        """Check the folder is there."""
        if not await asyncio.to_thread(self.folder.is_dir):
            raise ConnectorNotReady(f"hot folder {self.name!r}: {self.folder} is not a folder")

    async def run(self) -> None:
        """Recover once after a start, then poll until cancelled or the folder goes away."""
        if not self._recovered:
            await self._recover()
        while True:
            listed = await asyncio.to_thread(self._list)
            now_s = time.monotonic()
            ready: list[Listed] = []
            for relpath, size, mtime_ns in listed:
                if (relpath, size, mtime_ns) in self._done:
                    if self.config.after != "keep":  # its move failed before: finish it
                        await asyncio.to_thread(self._finish, relpath)
                    continue
                if self.settler.observe(relpath, size, mtime_ns, now_s=now_s):
                    ready.append((relpath, size, mtime_ns))
            self.settler.keep_only({relpath for relpath, _, _ in listed})
            for relpath, size, mtime_ns in sorted(ready, key=lambda f: (f[2], f[0])):
                await self._take(relpath, size, mtime_ns)
            await asyncio.sleep(self.config.poll_s)

    async def close(self) -> None:
        """Nothing is held open between polls."""
