"""Load recordings into a store, accounting for every row.

Reading (Arrow parsing, in a worker thread) overlaps with writing (the store's own
thread): the reader runs one chunk ahead through a bounded queue, so at most two chunks
are in memory at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from shopfloor.connectors.recordings.base import Chunk, RecordingReader
from shopfloor.model import DeadLetter, Record, Signal, SignalRef, WaveformBlock
from shopfloor.model.validation import (
    RecordValidator,
    ValidationLimits,
    WriteReport,
    validate_records,
)
from shopfloor.store import Store

__all__ = ["IngestReport", "ingest_recordings"]


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


async def ingest_recordings(
    store: Store,
    readers: Sequence[RecordingReader],
    *,
    limits: ValidationLimits | None = None,
    progress: Callable[[RecordingReader, int], None] | None = None,
    max_examples: int = 20,
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
        Called with the reader and its progress units after each chunk.
    """
    report = IngestReport()
    declared: dict[SignalRef, Signal] = {i.ref: i.definition for i in await store.signals()}
    validator = RecordValidator(declared.get, limits or ValidationLimits())
    start = time.perf_counter()
    for reader in readers:
        report.files.append(str(reader.path))
        iterator = reader.chunks()
        queue: asyncio.Queue[Chunk | BaseException | None] = asyncio.Queue(maxsize=2)

        async def produce(
            it: Iterator[Chunk] = iterator, q: asyncio.Queue[Chunk | BaseException | None] = queue
        ) -> None:
            try:
                while True:
                    chunk = await asyncio.to_thread(_next_chunk, it)
                    await q.put(chunk)
                    if chunk is None:
                        return
            except BaseException as err:  # handed to the consumer, which re-raises
                await q.put(err)

        producer = asyncio.create_task(produce())
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    break
                await _write_chunk(store, validator, item, report, max_examples)
                if progress is not None:
                    progress(reader, item.progress)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
    report.seconds = time.perf_counter() - start
    return report


async def _write_chunk(
    store: Store,
    validator: RecordValidator,
    chunk: Chunk,
    report: IngestReport,
    max_examples: int,
) -> None:
    letters = list(chunk.rejected)
    report.rows += chunk.rows
    report.rows_rejected += len(chunk.rejected)
    report.blank_lines += chunk.blank
    for record in chunk.records:
        if isinstance(record, WaveformBlock):
            report.blocks += 1
            report.samples += record.n_samples
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
    if letters:
        await store.write_dead_letters(letters)
        room = max_examples - len(report.examples)
        if room > 0:
            report.examples.extend(letters[:room])
    written = await store.write([*batches, *chunk.records])
    report.store.add(pre)
    report.store.add(written)
