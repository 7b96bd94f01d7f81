"""A folder (or tar archive) of capture files: one short waveform snapshot per file.

Bearing test rigs and portable analysers write a capture every few seconds or minutes: a
short text table (``acc_00001.csv``: 2560 rows at 25.6 kHz) or a snapshot named by its time
(IMS ``2004.02.12.10.32.39``: 20480 rows, 4 columns). Each capture becomes one
:class:`~shopfloor.model.WaveformBlock` per mapped signal. The time of a capture comes from
one of:

- its **position**: capture *k* (in natural name order) is at ``start + k · interval_s``;
- its **file name**, with a strptime pattern (``%Y.%m.%d.%H.%M.%S``);
- **columns** holding the hour, minute, second (and microsecond) of the first row, on a
  ``date`` the user gives (FEMTO). A time of day more than 12 h before the previous
  capture's is on the next day (a run past midnight).

A tar archive (``.tar``, ``.tar.gz``, ``.tar.xz``, ``.tar.bz2``) is read as a stream with
:mod:`tarfile`, member by member, without unpacking it; memory holds one chunk of
captures at a time. Every capture that cannot be used (not a table of numbers, a row or
column count unlike the others, a file name without a time, a corrupt archive member, an
archive cut short) becomes a dead letter naming the file or member and, where there is
one, the line; everything else is stored.
"""

from __future__ import annotations

import fnmatch
import logging
import lzma
import re
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from shopfloor.connectors.recordings.base import Chunk
from shopfloor.connectors.recordings.blocks import file_dead_letter
from shopfloor.connectors.recordings.captureparse import (
    CaptureError,
    CaptureTable,
    check_name_time_format,
    parse_capture,
    time_from_columns,
    time_from_name,
    time_of_day_ns,
)
from shopfloor.connectors.recordings.options import CaptureOptions, read_options
from shopfloor.connectors.recordings.sources import SourceMap
from shopfloor.errors import ConfigError
from shopfloor.model import DeadLetter, Provenance, SignalRef, WaveformBlock, now_ns

__all__ = [
    "ARCHIVE_SUFFIXES",
    "CaptureLayout",
    "CaptureReader",
    "is_archive",
    "natural_key",
    "open_captures",
]

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tbz")
"""File names read as tar archives of captures."""

_ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error)
_HALF_DAY_NS = 12 * 3600 * 1_000_000_000
_DELIMITERS = {"tab": "\t", "\\t": "\t", "\t": "\t", ";": ";", ",": ",", "|": "|"}
_DELIMITERS.update({"space": " ", "whitespace": " ", " ": " "})


def is_archive(path: Path) -> bool:
    """True when ``path``'s name ends like a tar archive."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def natural_key(name: str) -> list[Any]:
    """Sort key putting ``acc_2`` before ``acc_10``."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class CaptureLayout:
    """How the captures of a folder or archive are read.

    Give exactly one way to time them: ``start`` with ``interval_s``; ``name_time_format``;
    or ``time_columns`` (hour, minute, second[, microsecond]) with ``date``.

    Parameters
    ----------
    rate_hz
        Sample rate within a capture.
    files
        Glob on the file (or member) base name; names starting with ``.`` never match.
    rows
        Rows every capture must have; default: as many as the first readable capture.
    delimiter, header, decimal
        Table dialect (the separator is detected per file when not given).
    scale, unit
        Factor applied to the values; unit of the blocks (one, or signal name → unit).
    """

    rate_hz: float
    start_ns: int | None = None
    interval_s: float | None = None
    name_time_format: str | None = None
    time_columns: tuple[str, ...] | None = None
    date: date | None = None
    timezone: str = "UTC"
    files: str = "*"
    delimiter: str | None = None
    header: bool = False
    decimal: str = "."
    rows: int | None = None
    scale: float = 1.0
    unit: str | Mapping[str, str] = field(default="")

    def __post_init__(self) -> None:
        modes = [
            self.start_ns is not None or self.interval_s is not None,
            self.name_time_format is not None,
            self.time_columns is not None,
        ]
        if sum(modes) != 1:
            raise ValueError(
                "time the captures one way: start with interval_s (capture k at start + "
                "k x interval), name_time_format (time in the file name), or time_columns "
                "with date (hour, minute, second[, microsecond] columns)"
            )
        if modes[0] and (self.start_ns is None or self.interval_s is None):
            raise ValueError("start and interval_s go together")
        if self.interval_s is not None and not self.interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {self.interval_s}")
        if self.time_columns is not None:
            if len(self.time_columns) not in (3, 4):
                raise ValueError(
                    "time_columns names 3 or 4 columns: hour, minute, second[, microsecond]; "
                    f"got {', '.join(self.time_columns)}"
                )
            if self.date is None:
                raise ValueError("time_columns need a date (the day of the first capture)")
        elif self.date is not None:
            raise ValueError("date goes with time_columns")
        if self.name_time_format is not None:
            check_name_time_format(self.name_time_format)
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")
        if self.decimal not in (".", ","):
            raise ValueError(f"decimal must be '.' or ',', got {self.decimal!r}")
        if self.delimiter is not None and self.delimiter == self.decimal:
            raise ValueError("the delimiter and the decimal separator are the same")

    def unit_of(self, ref: SignalRef) -> str:
        """The unit of ``ref``'s blocks."""
        if isinstance(self.unit, str):
            return self.unit
        return self.unit.get(ref.path, self.unit.get(ref.name, ""))


@dataclass
class _Item:
    """One capture file as found: its content, or why it could not be read."""

    index: int
    name: str
    location: str
    progress: int
    data: bytes | None = None
    error: str | None = None
    category: str = "unreadable_file"


def _recording_tarinfo(ends: list[BaseException]) -> type[tarfile.TarInfo]:
    """A TarInfo class that records why :mod:`tarfile` stopped reading headers.

    ``tarfile`` ends iteration quietly at a corrupt or truncated header; the recorded
    exception tells a clean end (an end-of-archive block) from lost members.
    """

    class _TarInfo(tarfile.TarInfo):
        @classmethod
        def fromtarfile(cls, tarfile_: tarfile.TarFile) -> _TarInfo:
            try:
                return super().fromtarfile(tarfile_)
            except tarfile.HeaderError as err:
                ends.append(err)
                raise

    return _TarInfo


class CaptureReader:
    """Read a folder or tar archive of capture files into waveform blocks.

    Parameters
    ----------
    path
        The folder, or a ``.tar``/``.tar.gz``/``.tar.xz``/``.tar.bz2`` archive.
    columns
        Column (number ``1``, ``2``, ... or header name; globs allowed) → signal; several
        columns of one signal are its channels in that order.
    layout
        Rate, timing and table dialect.
    connector
        Name recorded in provenance.
    """

    def __init__(
        self,
        path: str | Path,
        columns: Mapping[str, SignalRef],
        layout: CaptureLayout,
        *,
        connector: str = "ingest",
    ) -> None:
        self.path = Path(path)
        self.sources = SourceMap(columns)
        self.layout = layout
        self.connector = connector
        self._zone = ZoneInfo(layout.timezone)
        self._files: list[Path] = []
        if self.path.is_dir():
            self._archive = False
            self._files = self._list_folder()
            self.total = sum(p.stat().st_size for p in self._files)
        elif self.path.is_file():
            if not (is_archive(self.path) or tarfile.is_tarfile(self.path)):
                raise ConfigError(
                    f"{self.path}: captures come from a folder or a tar archive "
                    f"({', '.join(ARCHIVE_SUFFIXES)}); this is neither"
                )
            self._archive = True
            self.total = self.path.stat().st_size
        else:
            raise ConfigError(f"{self.path}: no such folder or archive")

    def _wanted(self, name: str) -> bool:
        return not name.startswith(".") and fnmatch.fnmatchcase(name, self.layout.files)

    def _list_folder(self) -> list[Path]:
        files = [p for p in self.path.iterdir() if self._wanted(p.name) and p.is_file()]
        return sorted(files, key=lambda p: natural_key(p.name))

    # -- finding the captures -------------------------------------------------------------

    def _folder_items(self) -> Iterator[_Item]:
        done = 0
        for index, file in enumerate(self._files):
            try:
                data = file.read_bytes()
            except OSError as err:
                done += file.stat().st_size if file.exists() else 0
                yield _Item(index, file.name, str(file), done, error=f"cannot be read: {err}")
                continue
            done += len(data)
            yield _Item(index, file.name, str(file), done, data=data)

    def _archive_order(self) -> dict[str, int]:
        """Member name → position in natural name order (for ``start + k · interval``)."""
        names: list[str] = []
        try:
            with tarfile.open(self.path, mode="r|*") as tar:
                for member in tar:
                    if member.isfile() and self._wanted(PurePosixPath(member.name).name):
                        names.append(member.name)
        except _ARCHIVE_ERRORS as err:
            log.debug("captures.listing_stopped archive=%s error=%s", self.path, err)
        return {name: i for i, name in enumerate(sorted(names, key=natural_key))}

    def _archive_items(self) -> Iterator[_Item]:
        order = self._archive_order() if self.layout.interval_s is not None else {}
        ends: list[BaseException] = []
        arrival = 0
        last: str | None = None
        with self.path.open("rb") as raw:
            try:
                tar = tarfile.open(  # noqa: SIM115 (closed by the with below)
                    fileobj=raw, mode="r|*", tarinfo=_recording_tarinfo(ends)
                )
            except _ARCHIVE_ERRORS as err:
                yield _Item(
                    0,
                    self.path.name,
                    str(self.path),
                    self.total,
                    error=f"not a readable tar archive: {err}",
                )
                return
            with tar:
                reading: str | None = None  # the member being read, until it is handed on
                try:
                    for member in tar:
                        base = PurePosixPath(member.name).name
                        if member.isdir() or not self._wanted(base):
                            continue
                        reading = member.name
                        location = f"{self.path}/{member.name}"
                        index = order.get(member.name, arrival)
                        arrival += 1
                        if not member.isfile():
                            item = _Item(
                                index,
                                base,
                                location,
                                raw.tell(),
                                error="not a regular file (a link or device) in the archive",
                            )
                        else:
                            stream = tar.extractfile(member)
                            data = stream.read() if stream is not None else b""
                            item = _Item(index, base, location, raw.tell(), data=data)
                        last, reading = member.name, None
                        yield item
                except _ARCHIVE_ERRORS as err:
                    if reading is not None:
                        where, location = f"member {reading!r}", f"{self.path}/{reading}"
                    else:
                        where = f"the header after member {last!r}" if last else "its start"
                        location = str(self.path)
                    yield _Item(
                        arrival,
                        PurePosixPath(reading or self.path.name).name,
                        location,
                        self.total,
                        error=f"the archive is corrupt at {where}: {type(err).__name__}: {err}; "
                        "the members after it could not be read",
                        category="corrupt_archive",
                    )
                    return
        end = ends[-1] if ends else None
        # tarfile's header errors below HeaderError are not in its type stubs: compare names
        end_kind = type(end).__name__
        if end is None or end_kind == "EOFHeaderError":
            return
        after = f"after member {last!r}" if last else "before any capture"
        if end_kind == "EmptyHeaderError":
            reason = f"the archive ends without an end-of-archive marker {after} (cut short?)"
        else:
            reason = f"corrupt tar header {after}: {end}; the rest of the archive could not be read"
        yield _Item(
            arrival,
            self.path.name,
            str(self.path),
            self.total,
            error=reason,
            category="corrupt_archive",
        )

    # -- turning a capture into blocks ------------------------------------------------------

    def chunks(self) -> Iterator[Chunk]:
        """Read capture after capture; yield them in chunks of about 64."""
        state = _State()
        chunk = Chunk()
        values = 0
        items = self._archive_items() if self._archive else self._folder_items()
        for item in items:
            blocks, letter = self._capture(item, state)
            chunk.rows += 1
            chunk.progress = item.progress
            if letter is not None:
                chunk.rejected.append(letter)
            chunk.records.extend(blocks)
            values += sum(b.data.size for b in blocks)
            if chunk.rows >= 64 or values >= 4_000_000:
                yield chunk
                chunk = Chunk(progress=item.progress)
                values = 0
        chunk.progress = self.total
        yield chunk

    def _letter(
        self,
        item: _Item,
        reason: str,
        *,
        line: int | None = None,
        payload: str | bytes = b"",
        category: str = "unreadable_capture",
    ) -> DeadLetter:
        location = item.location if line is None else f"{item.location}:{line}"
        detail: dict[str, Any] = {"capture": item.location}
        if line is not None:
            detail["line"] = line
        if item.data is not None and not payload:
            payload = item.data[:4096]
        return file_dead_letter(
            self.connector,
            self.path,
            reason,
            category=category,
            location=location,
            payload=payload,
            **detail,
        )

    def _capture(self, item: _Item, state: _State) -> tuple[list[WaveformBlock], DeadLetter | None]:
        layout = self.layout
        if item.error is not None or item.data is None:
            return [], self._letter(item, item.error or "no content", category=item.category)
        try:
            table = parse_capture(
                item.data,
                delimiter=layout.delimiter,
                header=layout.header,
                decimal=layout.decimal,
            )
        except CaptureError as err:
            return [], self._letter(item, err.reason, line=err.line, payload=err.text)
        rows, n_columns = table.values.shape
        if state.columns is not None and n_columns != state.columns[0]:
            return [], self._letter(
                item,
                f"has {n_columns} columns, expected {state.columns[0]} (as {state.columns[1]})",
                category="bad_shape",
            )
        if layout.rows is not None:
            expected, like = layout.rows, ""
        elif state.rows is not None:
            expected, like = state.rows[0], f" (as {state.rows[1]})"
        else:
            expected, like = rows, ""
        if rows != expected:
            return [], self._letter(
                item, f"has {rows} rows, expected {expected}{like}", category="bad_shape"
            )
        time_names = list(layout.time_columns or ())
        matched, problems = self.sources.resolve(table.names, what="column", exclude=time_names)
        if problems:
            return [], self._letter(item, "; ".join(problems), category="unmapped_source")
        try:
            t0 = self._start_of(item, table, state)
        except ValueError as err:
            line = table.first_line if layout.time_columns is not None else None
            return [], self._letter(item, str(err), line=line, category="bad_time")
        if state.columns is None:
            state.columns = (n_columns, item.name)
        if layout.rows is None and state.rows is None:
            state.rows = (rows, item.name)
        ingest = now_ns()
        blocks = []
        for ref, chosen in matched.items():
            index = [table.names.index(name) for name in chosen]
            data = table.values[:, index[0]] if len(index) == 1 else table.values[:, index]
            data = np.ascontiguousarray(data if layout.scale == 1.0 else data * layout.scale)
            blocks.append(
                WaveformBlock(
                    ref,
                    t0,
                    layout.rate_hz,
                    data,
                    layout.unit_of(ref),
                    Provenance(self.connector, f"{item.location}#{','.join(chosen)}"),
                    ingest_ns=ingest,
                )
            )
        return blocks, None

    def _start_of(self, item: _Item, table: CaptureTable, state: _State) -> int:
        layout = self.layout
        if layout.name_time_format is not None:
            return time_from_name(item.name, layout.name_time_format, self._zone)
        if layout.time_columns is not None:
            assert layout.date is not None
            missing = [c for c in layout.time_columns if c not in table.names]
            if missing:
                raise ValueError(f"no time column {', '.join(map(repr, missing))}")
            row = table.values[0, [table.names.index(c) for c in layout.time_columns]]
            tod = time_of_day_ns([float(v) for v in row], layout.time_columns)
            day = state.days
            if state.time_of_day is not None and tod < state.time_of_day - _HALF_DAY_NS:
                day += 1
            start = time_from_columns(layout.date + timedelta(days=day), tod, self._zone)
            state.days, state.time_of_day = day, tod
            return start
        assert layout.start_ns is not None and layout.interval_s is not None
        return layout.start_ns + item.index * round(layout.interval_s * 1_000_000_000)


@dataclass
class _State:
    """What the captures read so far say about the next ones."""

    rows: tuple[int, str] | None = None
    columns: tuple[int, str] | None = None
    days: int = 0
    time_of_day: int | None = None


def open_captures(
    path: Path, columns: Mapping[str, SignalRef], options: Mapping[str, Any], connector: str
) -> CaptureReader:
    """Open a folder or tar archive of captures; see :class:`CaptureLayout` for the options."""
    opts = read_options("captures", options, CaptureOptions)
    if opts.rate_hz is None:
        raise ConfigError("captures option 'rate_hz' is required: the sample rate of a capture")
    delimiter = opts.delimiter
    if delimiter is not None:
        if delimiter not in _DELIMITERS:
            raise ConfigError(
                "captures option 'delimiter' must be one of tab, ';', ',', '|' or whitespace, "
                f"got {delimiter!r}"
            )
        delimiter = _DELIMITERS[delimiter]
    try:
        layout = CaptureLayout(
            rate_hz=opts.rate_hz,
            start_ns=opts.start,
            interval_s=opts.interval_s,
            name_time_format=opts.name_time_format,
            time_columns=opts.time_columns,
            date=opts.date,
            timezone=opts.timezone,
            files=opts.files,
            delimiter=delimiter,
            header=opts.header,
            decimal=opts.decimal,
            rows=opts.rows,
            scale=opts.scale,
            unit=opts.unit,
        )
    except ValueError as err:
        raise ConfigError(f"captures: {err}") from err
    return CaptureReader(path, columns, layout, connector=connector)
