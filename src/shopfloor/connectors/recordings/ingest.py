"""Load recordings into a store, accounting for every row.

Reading (Arrow parsing, in a worker thread) overlaps with writing: the reader runs up
to two chunks ahead through a bounded queue, and at most ``max_in_flight`` chunk writes
(requests, for a store behind the API) run at once, so memory stays bounded whatever
the size of the file. When a write fails, the reading and the other writes are
cancelled and awaited before the error goes on: nothing is left waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shopfloor.connectors.recordings.base import Chunk, RecordingReader
from shopfloor.model import DeadLetter, Record, Signal, SignalRef, WaveformBlock
from shopfloor.model.validation import (
    RecordValidator,
    ValidationLimits,
    WriteReport,
    validate_records,
)

__all__ = ["IngestReport", "ingest_recordings"]


class _Declared(Protocol):
    """A signal the store knows: its reference and definition."""

    @property
    def ref(self) -> SignalRef:
        """The signal."""

    @property
    def definition(self) -> Signal:
        """Its definition."""


class RecordStore(Protocol):
    """What ingest needs of a store (the ``Store`` protocol satisfies it).

    Declared here, not imported from ``store/``: connectors sit beside the store in the
    layers and never import it.
    """

    async def signals(self) -> Sequence[_Declared]:
        """Every declared signal."""

    async def write(self, records: Sequence[Record]) -> WriteReport:
        """Write records idempotently."""

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep rejected input."""


@dataclass
class IngestReport:
    """Everything that happened to the input: nothing is left unaccounted.

    ``rows == rows_rejected + rows that produced values``; ``values`` are what the store
    was offered (one per mapped column of each good row, one per block or image). For
    waveform recordings a row is a capture file or a block cut from a long recording;
    ``blocks`` and ``samples`` count the waveform blocks offered and their samples per
    channel.
    """

    files: list[str] = field(default_factory=list)
    rows: int = 0
    rows_rejected: int = 0
    blank_lines: int = 0
    store: WriteReport = field(default_factory=WriteReport)
    seconds: float = 0.0
    examples: list[DeadLetter] = field(default_factory=list)
    blocks: int = 0
    samples: int = 0

    @property
    def rejected_reasons(self) -> dict[str, int]:
        """Rejections by category: unreadable rows and values the store refused."""
        out = dict(self.store.reasons)
        if self.rows_rejected:
            out["unparseable_row"] = self.rows_rejected
        return out

    def as_dict(self) -> dict[str, object]:
        """JSON-able summary."""
        return {
            "files": self.files,
            "rows": self.rows,
            "rows_rejected": self.rows_rejected,
            "blank_lines": self.blank_lines,
            "values_offered": self.store.offered,
            "values_written": self.store.written,
            "duplicates": self.store.duplicates,
            "values_rejected": self.store.rejected,
            "waveform_blocks": self.blocks,
            "waveform_samples": self.samples,
            "rejected_by_reason": self.rejected_reasons,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows / self.seconds) if self.seconds > 0 else None,
            "examples": [{"location": d.location, "reason": d.reason} for d in self.examples],
        }


def _next_chunk(iterator: Iterator[Chunk]) -> Chunk | None:
    return next(iterator, None)


async def _read_ahead(
    iterator: Iterator[Chunk], queue: asyncio.Queue[Chunk | Exception | None]
) -> None:
    """Parse chunks in a worker thread into ``queue``; ``None`` when the reader is done.

    An error of the reader is handed to the consumer through the queue. Cancellation is
    never caught: the consumer cancels this task when it stops (also on its own errors),
    and a task that caught it would wait forever on the full queue.
    """
    try:
        while True:
            chunk = await asyncio.to_thread(_next_chunk, iterator)
            await queue.put(chunk)
            if chunk is None:
                return
    except Exception as err:  # handed to the consumer, which re-raises
        await queue.put(err)


async def _stop(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until they have ended; their own errors are dropped.

    A cancellation of the caller while it waits goes on (it is not theirs to drop).
    """
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: the error that stopped the ingest goes on instead


async def ingest_recordings(
    store: RecordStore,
    readers: Sequence[RecordingReader],
    *,
    limits: ValidationLimits | None = None,
    progress: Callable[[RecordingReader, int], None] | None = None,
    max_examples: int = 20,
    max_in_flight: int = 4,
    report: IngestReport | None = None,
) -> IngestReport:
    """Read every recording and write it to ``store``.

    Parameters
    ----------
    store
        Where to write (embedded, or a running platform through its API).
    readers
        The recordings.
    limits
        Used to check values here, where each row's line is still known, so that a
        rejection names its line; the store checks again with its own limits.
    progress
        Called with the reader and its progress units after each chunk is written.
    max_examples
        Rejected rows kept in the report as examples.
    max_in_flight
        Chunk writes the store may have at once (the next chunk is read and checked
        while they run); with the chunks read ahead this bounds the memory held.
    report
        Filled as chunks are written (a new one when ``None``), so that a caller still
        knows how far the ingest got when it fails.

    Raises
    ------
    ValueError
        When ``max_in_flight`` is below 1.
    """
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    report = report if report is not None else IngestReport()
    declared: dict[SignalRef, Signal] = {i.ref: i.definition for i in await store.signals()}
    validator = RecordValidator(declared.get, limits or ValidationLimits())
    start = time.perf_counter()
    for reader in readers:
        report.files.append(str(reader.path))
        queue: asyncio.Queue[Chunk | Exception | None] = asyncio.Queue(maxsize=2)
        producer = asyncio.create_task(_read_ahead(reader.chunks(), queue))
        writes: deque[_Turn] = deque()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, Exception):
                    raise item
                if item is None:
                    break
                while len(writes) >= max_in_flight:
                    await writes.popleft().wait()
                turn = _Turn(writes[-1] if writes else None)
                turn.task = asyncio.create_task(
                    _write_chunk(
                        store, validator, item, report, max_examples, reader, progress, turn
                    )
                )
                writes.append(turn)
            while writes:
                await writes.popleft().wait()
        finally:
            await _stop([producer, *(t.task for t in writes if t.task is not None)])
    report.seconds = time.perf_counter() - start
    return report


class _Turn:
    """A chunk write's place in line: the write before, and whether this one was sent."""

    def __init__(self, before: _Turn | None) -> None:
        self.before = before
        self.submitted = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def wait(self) -> None:
        """Until the write is done; its error, if it failed."""
        if self.task is not None:
            await self.task


async def _write_chunk(
    store: RecordStore,
    validator: RecordValidator,
    chunk: Chunk,
    report: IngestReport,
    max_examples: int,
    reader: RecordingReader,
    progress: Callable[[RecordingReader, int], None] | None,
    turn: _Turn,
) -> None:
    """Check ``chunk`` and write it; the report counts it once the store has it.

    Checking overlaps with the write before; the writes reach the store, and are
    counted, in the order of the chunks (so "first write wins" means first in the file).
    """
    letters = list(chunk.rejected)
    offered: list[Record] = [batch for batch, _ in chunk.scalars]
    lines = [numbers for _, numbers in chunk.scalars]

    def locate(index: int, row: int) -> str:
        address = chunk.scalars[index][0].provenance.address.rsplit("#", 1)[0]
        return f"{address}:{int(lines[index][row])}"

    checked = validate_records(offered, validator, locate=locate)
    letters.extend(checked.letters)
    batches = checked.accepted
    pre = checked.report
    # the accepted values are offered again to the store, which counts them there
    pre.offered = pre.rejected + pre.duplicates
    before, turn.before = turn.before, None  # no chain of every write of the file
    if before is not None:
        await before.submitted.wait()
    if letters:
        await store.write_dead_letters(letters)
    sending = asyncio.ensure_future(store.write([*batches, *chunk.records]))
    turn.submitted.set()
    written = await sending
    if before is not None:
        await before.wait()
    room = max_examples - len(report.examples)
    if letters and room > 0:
        report.examples.extend(letters[:room])
    report.rows += chunk.rows
    report.rows_rejected += len(chunk.rejected)
    report.blank_lines += chunk.blank
    for record in chunk.records:
        if isinstance(record, WaveformBlock):
            report.blocks += 1
            report.samples += record.n_samples
    report.store.add(pre)
    report.store.add(written)
    if progress is not None:
        progress(reader, chunk.progress)
