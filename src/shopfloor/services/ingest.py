"""Load recordings (CSV, Parquet, WAV, .mat, .npy/.npz, capture folders) into the store.

:class:`IngestOptions` says what to read and how; :func:`check_ingest` checks the options
without touching the store (every problem is a :class:`~shopfloor.errors.ConfigError`
naming the option and value); :func:`ingest` opens the readers, checks or creates the
signals, and writes through the store's checks, keeping every rejected row as a dead letter.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopfloor.config import Project
from shopfloor.connectors.recordings import (
    FORMAT_SUFFIXES,
    TIME_FORMATS,
    IngestReport,
    RecordingReader,
    WavReader,
    detect_format,
    ingest_recordings,
    natural_key,
    open_recording,
)
from shopfloor.connectors.recordings.csv import read_head, sniff_delimiter
from shopfloor.connectors.recordings.sources import SourceSpec
from shopfloor.connectors.recordings.timeparse import LOCAL_TIME_CHOICES
from shopfloor.errors import ConfigError, StoreUnavailable
from shopfloor.model import Signal, SignalKind, SignalRef, to_ns, validate_asset_path
from shopfloor.services.ingest_options import IngestOptions
from shopfloor.services.store import project_store
from shopfloor.store import Store
from shopfloor.store.protocol import SignalInfo

__all__ = [
    "FORMAT_CHOICES",
    "IngestOptions",
    "IngestPlan",
    "IngestSummary",
    "ProgressFactory",
    "check_ingest",
    "ingest",
]

TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date_time", "date")
TABLE_FORMATS = ("csv", "parquet")
WAVEFORM_FORMATS = ("wav", "mat", "npy", "captures")
FORMAT_CHOICES = ("auto", *TABLE_FORMATS, *WAVEFORM_FORMATS)

ProgressFactory = Callable[[Sequence[RecordingReader]], Callable[[RecordingReader, int], None]]
"""Given the readers about to run, the callback told ``(reader, units done)`` as they go."""


@dataclass(frozen=True)
class _TimeOptions:
    """When the samples of each file were taken, as the options say."""

    start_ns: int | None
    rate: float | None
    rate_for: list[tuple[str, float]]
    interval_s: float | None
    timezone: str

    def rate_of(self, path: Path) -> float | None:
        """--rate-for's rate for the first glob ``path`` matches, else --rate."""
        for glob, hz in self.rate_for:
            if fnmatch.fnmatchcase(path.name, glob) or fnmatch.fnmatchcase(str(path), glob):
                return hz
        return self.rate

    def start_of(self, k: int) -> int | None:
        """Start of the k-th file: --start + k x --interval-s."""
        if self.start_ns is None:
            return None
        if self.interval_s is None:
            return self.start_ns
        return self.start_ns + k * round(self.interval_s * 1e9)


@dataclass(frozen=True)
class _Entry:
    """One waveform source: which column/variable/channel, into which signal and channel."""

    source: str
    signal: str
    channel: str | None = None


@dataclass(frozen=True)
class IngestPlan:
    """Checked options: the files with their formats and what goes where.

    Made by :func:`check_ingest`; :func:`ingest` runs it.
    """

    options: IngestOptions
    asset: str
    found: list[tuple[Path, str]]
    times: _TimeOptions
    tables: bool
    entries: list[_Entry] = field(default_factory=list)


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest did: the :class:`IngestReport` and how it reads."""

    report: IngestReport

    @property
    def rejected(self) -> int:
        """Rows and values rejected (each kept as a dead letter)."""
        return self.report.rows_rejected + self.report.store.rejected

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: :meth:`IngestReport.as_dict`."""
        return self.report.as_dict()

    def lines(self) -> list[str]:
        """The summary in words: what was written, then duplicates, blanks and rejections."""
        s, r = self.as_dict(), self.report
        if r.blocks:
            head = (
                f"ingested {r.store.written:,} of {r.blocks:,} waveform blocks ({r.samples:,} "
                f"samples) from {len(r.files)} recording(s) in {r.seconds:.1f} s"
            )
        else:
            head = (
                f"ingested {r.store.written:,} values from {r.rows:,} rows of "
                f"{len(r.files)} file(s) in {r.seconds:.1f} s"
                + (f" ({s['rows_per_s']:,} rows/s)" if s["rows_per_s"] else "")
            )
        lines = [head]
        if r.store.duplicates:
            lines.append(
                f"  {r.store.duplicates:,} values were already stored (duplicates, kept once)"
            )
        if r.blank_lines:
            lines.append(f"  {r.blank_lines:,} blank lines skipped")
        if self.rejected:
            lines.append(f"  {self.rejected:,} rejected and kept in the dead letters:")
            reasons = sorted(r.rejected_reasons.items(), key=lambda kv: -kv[1])
            lines.extend(f"    {count:>10,}  {reason}" for reason, count in reasons)
            lines.extend(f"    e.g. {d.location}: {d.reason}" for d in r.examples[:5])
            lines.append("  see them all with: shopfloor dead-letters")
        return lines


def check_ingest(options: IngestOptions) -> IngestPlan:
    """Check ``options`` without opening the store.

    Raises
    ------
    ConfigError
        Naming the option and the value that is wrong.
    """
    o = options
    if o.fmt not in FORMAT_CHOICES:
        raise ConfigError(f"--format must be one of {', '.join(FORMAT_CHOICES)}, got {o.fmt!r}")
    if o.kind not in ("auto", "scalar", "waveform"):
        raise ConfigError(f"--kind must be auto, scalar or waveform, got {o.kind!r}")
    if o.time_format not in TIME_FORMATS and "%" not in o.time_format:
        raise ConfigError(
            f"--time-format must be one of {', '.join(TIME_FORMATS)} or a strptime pattern "
            f"like '%d.%m.%Y %H:%M:%S', got {o.time_format!r}"
        )
    for name, rule in (("--ambiguous", o.ambiguous), ("--nonexistent", o.nonexistent)):
        if rule not in LOCAL_TIME_CHOICES:
            raise ConfigError(
                f"{name} must be one of {', '.join(LOCAL_TIME_CHOICES)}, got {rule!r}"
            )
    try:
        codecs.lookup(o.encoding)
    except LookupError as err:
        raise ConfigError(f"--encoding {o.encoding!r}: not a known text encoding") from err
    if o.asset is None:
        raise ConfigError("--asset is required (the ISA-95 path of the machine)")
    try:
        asset_path = validate_asset_path(o.asset)
    except ValueError as err:
        raise ConfigError(f"--asset: {err}") from err
    start_ns = None
    if o.start is not None:
        try:
            start_ns = to_ns(o.start)
        except ValueError as err:
            raise ConfigError(f"--start: {err}") from err
    if o.interval_s is not None and not (o.interval_s > 0 and math.isfinite(o.interval_s)):
        raise ConfigError(f"--interval-s must be > 0, got {o.interval_s}")
    if o.rate is not None and not (o.rate > 0 and math.isfinite(o.rate)):
        raise ConfigError(f"--rate must be > 0, got {o.rate}")
    found = _expand_paths(list(o.paths), o.fmt)
    times = _TimeOptions(start_ns, o.rate, _rate_for_items(o.rate_for), o.interval_s, o.timezone)
    tables = found[0][1] in TABLE_FORMATS
    if o.kind != "auto" and (o.kind == "scalar") != tables:
        family = "CSV and Parquet tables load" if tables else f"{found[0][1]} recordings load"
        raise ConfigError(f"--kind {o.kind}: {family} {'scalar' if tables else 'waveform'} signals")
    if tables:
        _not_for(
            "table",
            {
                "--channels/--variables": o.channels is not None,
                "--block-s": o.block_s is not None,
                "--scale": o.scale is not None,
                "--name-time-format": o.name_time_format is not None,
                "--time-columns": o.time_columns is not None,
                "--date": o.date is not None,
                "--rows": o.rows is not None,
                "--files": o.files is not None,
            },
        )
        _check_table_times(times, len(found))
        return IngestPlan(o, asset_path, found, times, tables=True)
    _not_for(
        "waveform",
        {
            "--value-column": o.value_column is not None,
            "--time-column": o.time_column is not None,
            "--time-format": o.time_format != "iso",
            "--skip-rows": o.skip_rows != 0,
            "--ambiguous": o.ambiguous != "raise",
            "--nonexistent": o.nonexistent != "raise",
            "--encoding": o.encoding != "utf-8",
        },
    )
    entries = _waveform_entries(list(o.map), o.signal, o.channels, {k for _, k in found})
    return IngestPlan(o, asset_path, found, times, tables=False, entries=entries)


async def ingest(
    project: Project, plan: IngestPlan, progress: ProgressFactory | None = None
) -> IngestSummary:
    """Run ``plan`` against the project's store and report what happened.

    Parameters
    ----------
    project
        The loaded project.
    plan
        Checked options (:func:`check_ingest`).
    progress
        Told the readers before they run; returns the callback of their progress.

    Returns
    -------
    IngestSummary
        Values written, rows read, duplicates, rejected rows by reason with examples
        (file:line), seconds.

    Raises
    ------
    ConfigError
        When a signal is missing (without ``create``), has the wrong kind, or ``unit``
        contradicts its declared unit.
    StoreUnavailable
        When the store (the running platform's API) goes away mid-ingest: the message
        says how many rows were written before.
    """
    o = plan.options
    readers: list[RecordingReader] = []
    wanted: dict[str, str] = {}
    if plan.tables:
        try:
            readers, wanted = _table_readers(plan)
        except ValueError as err:
            raise ConfigError(str(err)) from err
    async with project_store(project) as store:
        if plan.tables:
            await _ensure_signals(
                store, project, plan.asset, sorted(set(wanted.values())), o.create, o.unit
            )
        else:
            readers = await _waveform_readers(store, project, plan)
        callback = progress(readers) if progress is not None else None
        report = IngestReport()
        try:
            await ingest_recordings(store, readers, progress=callback, report=report)
        except StoreUnavailable as err:
            raise StoreUnavailable(f"{str(err).rstrip('. ')}; {_how_far(report)}") from err
        return IngestSummary(report)


def _how_far(report: IngestReport) -> str:
    """How far an ingest that stopped got, for its error message."""
    files = ", ".join(report.files) or "no file"
    return (
        f"the ingest of {files} stopped after {report.rows:,} rows "
        f"({report.store.written:,} values written); the rows written stay stored and "
        "ingesting the same files again adds only the rest"
    )


def _columns_of(
    path: Path, fmt: str, delimiter: str | None, header: bool, skip_rows: int, encoding: str
) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    sample = read_head(path, encoding)
    lines = [line for line in sample.splitlines()[skip_rows:] if line.strip()]
    if not lines:
        raise ConfigError(f"{path}: the file is empty")
    sep = delimiter or sniff_delimiter("\n".join(lines[:50]))
    first = next(csv.reader([lines[0]], delimiter=sep))
    return [c.strip() for c in first] if header else [str(i + 1) for i in range(len(first))]


def _rate_for_items(items: Sequence[str]) -> list[tuple[str, float]]:
    out = []
    for item in items:
        glob, sep, value = item.rpartition("=")
        try:
            hz = float(value)
        except ValueError:
            hz = -1.0
        if not sep or not glob or not hz > 0 or not math.isfinite(hz):
            raise ConfigError(f"--rate-for {item!r}: write FILE_GLOB=HZ, e.g. 'normal_*=48000'")
        out.append((glob, hz))
    return out


def _expand_paths(paths: list[Path], fmt: str) -> list[tuple[Path, str]]:
    """Each recording with its format; a folder given with a file format is its files."""
    out: list[tuple[Path, str]] = []
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such file or folder")
        if path.is_dir() and fmt not in ("auto", "captures"):
            suffixes = FORMAT_SUFFIXES.get(fmt, ())
            files = sorted(
                (
                    p
                    for p in path.iterdir()
                    if p.is_file() and not p.name.startswith(".")
                    if p.name.lower().endswith(suffixes)
                ),
                key=lambda p: natural_key(p.name),
            )
            if not files:
                raise ConfigError(f"{path}: no {fmt} files ({', '.join(suffixes)}) in the folder")
            out.extend((f, fmt) for f in files)
        elif path.is_dir() or path.is_file():
            out.append((path, detect_format(path) if fmt == "auto" else fmt))
        else:
            raise ConfigError(f"{path}: no such file")
    kinds = {k in TABLE_FORMATS for _, k in out}
    if len(kinds) > 1:
        raise ConfigError(
            "give CSV/Parquet tables or waveform recordings (wav, mat, npy, captures) in "
            "one ingest, not both"
        )
    return out


def _not_for(family: str, given: dict[str, bool]) -> None:
    wrong = [name for name, on in given.items() if on]
    if wrong:
        what = (
            "CSV and Parquet tables"
            if family == "table"
            else "waveform recordings (wav, mat, npy, captures)"
        )
        raise ConfigError(f"{', '.join(wrong)}: not an option for {what}")


def _check_table_times(times: _TimeOptions, n_files: int) -> None:
    if times.start_ns is not None and times.rate is None and not times.rate_for:
        raise ConfigError("--start and --rate go together")
    if times.start_ns is None and (times.rate is not None or times.rate_for):
        raise ConfigError("--start and --rate go together")
    if times.start_ns is not None and n_files > 1 and times.interval_s is None:
        raise ConfigError(
            f"{n_files} files with --start: give --interval-s so that file k starts at "
            "start + k x interval (else they would all start at the same time)"
        )


def _table_readers(plan: IngestPlan) -> tuple[list[RecordingReader], dict[str, str]]:
    """Readers of CSV/Parquet files and the column → signal mapping they use."""
    o, times = plan.options, plan.times
    header = True if o.header is None else o.header
    readers: list[RecordingReader] = []
    wanted: dict[str, str] = {}
    for k, (path, kind) in enumerate(plan.found):
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        names = _columns_of(path, kind, o.delimiter, header, o.skip_rows, o.encoding)
        tcol = o.time_column
        if tcol is None and times.start_ns is None:
            tcol = next((n for n in names if n.strip().lower() in TIME_NAMES), None)
            if tcol is None:
                raise ConfigError(
                    f"{path}: no time column found among {', '.join(names[:20])}; pass "
                    "--time-column, or --start and --rate"
                )
        if tcol is not None and tcol not in names:
            raise ConfigError(f"{path}: no column {tcol!r} (columns: {', '.join(names[:30])})")
        mapping = _mapping(list(o.map), o.signal, o.value_column, names, tcol, path)
        wanted.update(mapping)
        start_k = times.start_of(k)
        options = {
            "time_column": tcol,
            "time_format": o.time_format,
            "timezone": times.timezone,
            "ambiguous": o.ambiguous,
            "nonexistent": o.nonexistent,
            "start": start_k,
            "rate_hz": times.rate_of(path) if start_k is not None else None,
            "delimiter": o.delimiter,
            "header": header,
            "skip_rows": o.skip_rows,
            "decimal": o.decimal,
        }
        if kind == "csv":
            options["encoding"] = o.encoding
        elif o.encoding != "utf-8":
            raise ConfigError(f"--encoding: {path} is {kind}, not text; drop --encoding")
        readers.append(
            open_recording(
                path,
                fmt=kind,
                options=options,
                columns={c: SignalRef(plan.asset, s) for c, s in mapping.items()},
            )
        )
    return readers, wanted


def _mapping(
    map_: list[str],
    signal: str | None,
    value_column: str | None,
    names: list[str],
    time_column: str | None,
    path: Path,
) -> dict[str, str]:
    if map_:
        if signal is not None:
            raise ConfigError("give --signal or --map, not both")
        out: dict[str, str] = {}
        for item in map_:
            column, sep, name = item.partition("=")
            if not sep or not column or not name:
                raise ConfigError(f"--map {item!r}: write COLUMN=SIGNAL")
            out[column.strip()] = name.strip()
        return out
    if signal is None:
        raise ConfigError("give --signal (one value column) or --map COLUMN=SIGNAL")
    if value_column is None:
        others = [n for n in names if n != time_column]
        if len(others) != 1:
            raise ConfigError(
                f"{path}: {len(others)} value columns ({', '.join(others[:20])}); pick one with "
                "--value-column or map several with --map"
            )
        value_column = others[0]
    return {value_column: signal}


def _waveform_entries(
    map_: list[str], signal: str | None, channels: str | None, formats: set[str]
) -> list[_Entry]:
    """The sources of --map or --signal/--channels, in the order given."""
    if map_:
        if signal is not None or channels is not None:
            raise ConfigError("give --map, or --signal with --channels, not both")
        entries = []
        for item in map_:
            source, sep, target = item.rpartition("=")
            name, _, channel = target.partition(":")
            if not sep or not source.strip() or not name.strip():
                raise ConfigError(f"--map {item!r}: write SOURCE=SIGNAL or SOURCE=SIGNAL:CHANNEL")
            entries.append(_Entry(source.strip(), name.strip(), channel.strip() or None))
        return entries
    if signal is None:
        raise ConfigError(
            "give --signal (with --channels/--variables) or --map SOURCE=SIGNAL[:CHANNEL]"
        )
    if channels is None:
        if "mat" in formats:
            raise ConfigError(
                "--variables: name the .mat variables for --signal (names or globs, e.g. "
                "'*_DE_time')"
            )
        return [_Entry("*", signal)]
    entries = []
    for part in channels.split(","):
        source, sep, channel = part.rpartition("=") if "=" in part else (part, "", "")
        if not source.strip():
            raise ConfigError(f"--channels {channels!r}: write SOURCE[=CHANNEL],...")
        entries.append(_Entry(source.strip(), signal, channel.strip() or None if sep else None))
    return entries


def _waveform_columns(
    known: dict[SignalRef, SignalInfo], asset: str, entries: list[_Entry]
) -> tuple[dict[str, SignalRef], dict[str, list[str] | None]]:
    """Source → signal in channel order, and the channel names of signals to create."""
    grouped: dict[str, list[_Entry]] = {}
    for entry in entries:
        grouped.setdefault(entry.signal, []).append(entry)
    columns: dict[str, SignalRef] = {}
    new_channels: dict[str, list[str] | None] = {}
    for name, items in grouped.items():
        try:
            ref = SignalRef.checked(asset, name)
        except ValueError as err:
            raise ConfigError(f"--map/--signal: {err}") from err
        named = [e.channel for e in items if e.channel]
        if named and len(named) != len(items):
            raise ConfigError(f"signal {name!r}: name every channel or none")
        if len(set(named)) != len(named):
            raise ConfigError(f"signal {name!r}: a channel is named twice ({', '.join(named)})")
        info = known.get(ref)
        ordered = items
        if info is not None and info.kind == SignalKind.WAVEFORM:
            declared = info.definition.channels or []
            if named:
                unknown = [c for c in named if c not in declared]
                missing = [c for c in declared if c not in named]
                if unknown or missing:
                    raise ConfigError(
                        f"signal {name!r} has channels {', '.join(declared) or '(unnamed)'}; "
                        f"map each once (unknown: {', '.join(unknown) or '-'}; missing: "
                        f"{', '.join(missing) or '-'})"
                    )
                ordered = sorted(items, key=lambda e: declared.index(e.channel or ""))
            elif not any(SourceSpec(e.source).is_pattern for e in items) and len(items) != (
                info.definition.n_channels
            ):
                raise ConfigError(
                    f"signal {name!r} has {info.definition.n_channels} channel(s) "
                    f"({', '.join(declared) or 'unnamed'}); {len(items)} source(s) given: "
                    f"{', '.join(e.source for e in items)}"
                )
        elif info is None:
            plain = [e.source for e in items]
            new_channels[name] = named or (plain if len(plain) > 1 else None)
        for entry in ordered:
            if entry.source in columns:
                raise ConfigError(f"source {entry.source!r} is mapped twice")
            columns[entry.source] = ref
    return columns, new_channels


async def _waveform_readers(
    store: Store, project: Project, plan: IngestPlan
) -> list[RecordingReader]:
    """Readers of waveform recordings, after checking (or creating) their signals."""
    o, times, asset, found = plan.options, plan.times, plan.asset, plan.found
    known = {i.ref: i for i in await store.signals()}
    columns, new_channels = _waveform_columns(known, asset, plan.entries)
    refs = list(dict.fromkeys(columns.values()))
    units = {r.name: (known[r].definition.unit if r in known else o.unit) for r in refs}
    declared_rates = {
        known[r].definition.sample_rate_hz
        for r in refs
        if r in known and known[r].kind == SignalKind.WAVEFORM
    }
    all_declared = all(r in known for r in refs)
    declared_rate = declared_rates.pop() if len(declared_rates) == 1 and all_declared else None
    captures = [p for p, k in found if k == "captures"]
    if captures and times.start_ns is not None and len(captures) > 1:
        raise ConfigError(
            "--start/--interval-s time the captures of one folder or archive; give one per "
            "ingest (or time them by --name-time-format or --time-columns)"
        )
    readers: list[RecordingReader] = []
    for k, (path, kind) in enumerate(found):
        rate = times.rate_of(path)
        if rate is None and kind != "wav":
            rate = declared_rate
            if rate is None:
                raise ConfigError(
                    f"{path}: give the sample rate with --rate (or declare sample_rate_hz on "
                    "the signal)"
                )
        opts = _waveform_options(path, kind, k, len(found), times, rate, units, o)
        readers.append(open_recording(path, fmt=kind, columns=columns, options=opts))
    create_rate = times.rate
    if create_rate is None and readers:
        first = readers[0]
        create_rate = (
            first.sample_rate_hz if isinstance(first, WavReader) else times.rate_of(first.path)
        )

    def make(name: str) -> Signal:
        if create_rate is None:
            raise ConfigError(f"--create: waveform signal {name!r} needs its sample rate: --rate")
        return Signal(
            name=name,
            kind=SignalKind.WAVEFORM,
            unit=o.unit,
            sample_rate_hz=create_rate,
            channels=new_channels.get(name),
        )

    await _ensure_signals(
        store,
        project,
        asset,
        [r.name for r in refs],
        o.create,
        o.unit,
        kind=SignalKind.WAVEFORM,
        make=make,
    )
    return readers


def _waveform_options(
    path: Path,
    kind: str,
    k: int,
    n_files: int,
    times: _TimeOptions,
    rate: float | None,
    units: dict[str, str],
    o: IngestOptions,
) -> dict[str, Any]:
    """The reader options of the k-th waveform recording."""
    opts: dict[str, Any] = {"rate_hz": rate, "unit": units}
    if o.scale is not None:
        opts["scale"] = o.scale
    given: dict[str, Any] = {
        "name_time_format": o.name_time_format,
        "time_columns": o.time_columns,
        "date": o.date,
        "rows": o.rows,
        "files": o.files,
        "delimiter": o.delimiter,
        "header": o.header,
        "decimal": None if o.decimal == "." else o.decimal,
    }
    if kind == "captures":
        opts.update({key: value for key, value in given.items() if value is not None})
        opts["timezone"] = times.timezone
        if o.block_s is not None:
            raise ConfigError("--block-s: a capture is one block; not an option for captures")
        if times.start_ns is not None:
            if times.interval_s is None:
                raise ConfigError(
                    "--start with captures needs --interval-s (capture k at start + k x interval)"
                )
            opts["start"] = times.start_ns
            opts["interval_s"] = times.interval_s
        elif times.interval_s is not None:
            raise ConfigError("--interval-s with captures needs --start")
        elif o.name_time_format is None and o.time_columns is None:
            raise ConfigError(
                f"{path}: say when the captures were taken: --start with --interval-s, "
                "--name-time-format (time in the file names), or --time-columns with --date"
            )
        return opts
    wrong = [f"--{key.replace('_', '-')}" for key, value in given.items() if value is not None]
    if wrong:
        raise ConfigError(f"{', '.join(wrong)}: only for captures, not for {kind} files")
    if times.start_ns is None:
        raise ConfigError(
            f"--start is required for {kind} files: the time of the first sample "
            "(e.g. 2024-01-01T00:00:00Z)"
        )
    if n_files > 1 and times.interval_s is None:
        raise ConfigError(
            f"{n_files} files with --start: give --interval-s so that file k starts at "
            "start + k x interval (else they would all start at the same time)"
        )
    opts["start"] = times.start_of(k)
    if o.block_s is not None:
        opts["block_s"] = o.block_s
    return opts


async def _ensure_signals(
    store: Store,
    project: Project,
    asset: str,
    names: list[str],
    create: bool,
    unit: str,
    *,
    kind: SignalKind = SignalKind.SCALAR,
    make: Callable[[str], Signal] | None = None,
) -> None:
    """Check the signals exist with ``kind``; register the missing ones with ``create``.

    ``make`` builds the definition of a missing signal (default: scalar with ``unit``).
    A ``unit`` that creates nothing and differs from a declared signal's unit is refused:
    values are stored as they are, never converted.
    """
    known = {i.ref: i for i in await store.signals()}
    missing = [n for n in names if SignalRef(asset, n) not in known]
    for name in names:
        info = known.get(SignalRef(asset, name))
        if info is None:
            continue
        if info.kind != kind:
            source = (
                "tabular files load scalar signals"
                if kind == SignalKind.SCALAR
                else (
                    "waveform recordings load waveform signals (declare kind: waveform, "
                    "sample_rate_hz and channels)"
                )
            )
            raise ConfigError(f"signal {name!r} of {asset!r} is {info.kind}; {source}")
        declared_unit = info.definition.unit
        if unit and unit != declared_unit and not (create and missing):
            raise ConfigError(
                f"--unit {unit!r}: signal {name!r} of {asset!r} is declared in "
                f"{declared_unit or 'no unit'!r}; values are not converted, so drop --unit or "
                "convert the file first (--unit is for signals made with --create)"
            )
    if not missing:
        return
    if not create:
        declared = sorted(i.ref.name for i in known.values() if i.ref.asset == asset)
        extra = "" if kind == SignalKind.SCALAR else " --rate HZ and channel names"
        raise ConfigError(
            f"{asset!r} has no signal {', '.join(map(repr, missing))} (declared: "
            f"{', '.join(declared) or 'none'}); declare it in {project.file.name} or pass "
            f"--create [--unit U]{extra}"
        )
    try:
        definitions = [make(n) if make else Signal(name=n, unit=unit) for n in missing]
        await store.register_signals(asset, definitions)
    except ValueError as err:
        raise ConfigError(f"--create: {err}") from err
