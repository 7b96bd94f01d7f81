"""Commands on data: ingest recordings, query signals, list signals and dead letters."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from shopfloor.cli.common import (
    EXIT_CONFIG,
    JsonOption,
    ProjectOption,
    console,
    fail,
    load,
    print_json,
    run_async,
)
from shopfloor.config import Project
from shopfloor.connectors.recordings import (
    FORMAT_SUFFIXES,
    TIME_FORMATS,
    RecordingReader,
    WavReader,
    detect_format,
    ingest_recordings,
    natural_key,
    open_recording,
)
from shopfloor.connectors.recordings.csv import read_text_sample, sniff_delimiter
from shopfloor.connectors.recordings.sources import SourceSpec
from shopfloor.errors import ConfigError
from shopfloor.model import (
    Signal,
    SignalKind,
    SignalRef,
    format_ns,
    now_ns,
    parse_duration_s,
    to_ns,
    validate_asset_path,
)
from shopfloor.node import open_project_store
from shopfloor.store import Store
from shopfloor.store.protocol import SignalInfo

__all__ = ["dead_letters", "ingest", "query", "signals"]

_TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date_time", "date")
_TABLE_FORMATS = ("csv", "parquet")
_WAVEFORM_FORMATS = ("wav", "mat", "npy", "captures")
_FORMAT_CHOICES = ("auto", *_TABLE_FORMATS, *_WAVEFORM_FORMATS)


def _parse_time_option(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return to_ns(value)
    except ValueError as err:
        fail(f"{option}: {err}", EXIT_CONFIG)


def _columns_of(
    path: Path, fmt: str, delimiter: str | None, header: bool, skip_rows: int
) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    sample = read_text_sample(path, 65536)
    lines = [line for line in sample.splitlines()[skip_rows:] if line.strip()]
    if not lines:
        raise ConfigError(f"{path}: the file is empty")
    sep = delimiter or sniff_delimiter("\n".join(lines[:50]))
    import csv

    first = next(csv.reader([lines[0]], delimiter=sep))
    return [c.strip() for c in first] if header else [str(i + 1) for i in range(len(first))]


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


def _rate_for_items(items: list[str] | None) -> list[tuple[str, float]]:
    out = []
    for item in items or []:
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
    kinds = {k in _TABLE_FORMATS for _, k in out}
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


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Recording files, or folders: a folder (or .tar.xz/.tar.gz archive) of capture "
            "files, or with --format wav/mat/npy/csv/parquet every such file in it.",
            show_default=False,
        ),
    ],
    asset: Annotated[
        str | None, typer.Option(help="ISA-95 path of the asset the data belongs to.")
    ] = None,
    signal: Annotated[
        str | None,
        typer.Option(
            help="Signal to store one value column as (tables), or the waveform signal the "
            "--channels go to."
        ),
    ] = None,
    value_column: Annotated[
        str | None,
        typer.Option(help="Column holding --signal's values (default: the only non-time column)."),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=SIGNAL, repeatable. Waveforms: SOURCE=SIGNAL[:CHANNEL], where SOURCE "
            "is a column, variable or channel name, a glob (*_DE_time) or re:REGEX; several "
            "sources of one signal are its channels in the order given (or by CHANNEL name).",
        ),
    ] = None,
    channels: Annotated[
        str | None,
        typer.Option(
            "--channels",
            "--variables",
            help="Waveforms, with --signal: the sources in channel order, comma-separated, "
            "each SOURCE or SOURCE=CHANNEL (WAV/.npy channels 1,2,..; capture columns 1,2,.. "
            "or header names; .mat/.npz variable names or globs). Default: all channels.",
        ),
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Timestamp column (default: one named time/timestamp/ts).")
    ] = None,
    time_format: Annotated[
        str, typer.Option(help=f"{', '.join(TIME_FORMATS)} or a strptime pattern.")
    ] = "iso",
    timezone: Annotated[
        str, typer.Option(help="IANA zone of timestamps without an offset.")
    ] = "UTC",
    start: Annotated[
        str | None,
        typer.Option(
            help="Time of the first row (tables, with --rate) or first sample (wav/mat/npy), "
            "or of the first capture (with --interval-s)."
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Tables: rows per second, with --start. Waveforms: sample rate in Hz "
            "(WAV: overrides the header; default: the signal's sample_rate_hz)."
        ),
    ] = None,
    rate_for: Annotated[
        list[str] | None,
        typer.Option(
            "--rate-for",
            help="FILE_GLOB=HZ, repeatable: the rate of the files whose name matches, instead "
            "of --rate (e.g. 'normal_*=48000').",
        ),
    ] = None,
    interval_s: Annotated[
        float | None,
        typer.Option(
            help="With --start: file k (or capture k) starts at start + k x interval; needed "
            "when several files share --start."
        ),
    ] = None,
    block_s: Annotated[
        float | None,
        typer.Option(
            help="wav/mat/npy: seconds per stored block (default 1; 0 = one block per file)."
        ),
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option(
            help="Waveforms: multiply every value (WAV: the value at full scale, integer PCM "
            "being first scaled to +-1.0)."
        ),
    ] = None,
    name_time_format: Annotated[
        str | None,
        typer.Option(help="Captures: strptime pattern of the time in the file names."),
    ] = None,
    time_columns: Annotated[
        str | None,
        typer.Option(
            help="Captures: columns of hour,minute,second[,microsecond] of the first row "
            "(with --date)."
        ),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(help="Captures with --time-columns: the day of the first capture."),
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option(
            min=1, help="Captures: rows each must have (default: as many as the first one)."
        ),
    ] = None,
    files: Annotated[
        str | None,
        typer.Option(help="Captures: glob of the file names to read (default: all)."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="Field separator (default: detected).")
    ] = None,
    header: Annotated[
        bool | None,
        typer.Option(
            "--header/--no-header",
            help="First line names the columns (default: yes for tables, no for captures).",
            show_default=False,
        ),
    ] = None,
    skip_rows: Annotated[int, typer.Option(min=0, help="Lines to skip before the header.")] = 0,
    decimal: Annotated[str, typer.Option(help="Decimal separator of the numbers.")] = ".",
    fmt: Annotated[
        str,
        typer.Option("--format", help=f"{', '.join(_FORMAT_CHOICES)} (auto: from the name)."),
    ] = "auto",
    kind: Annotated[
        str,
        typer.Option(
            help="auto, scalar or waveform: what the signals are (tables load scalars, the "
            "other formats waveforms)."
        ),
    ] = "auto",
    create: Annotated[
        bool,
        typer.Option(
            help="Register signals the project does not declare (waveforms: with --rate, "
            "and channel names from --channels SOURCE=CHANNEL)."
        ),
    ] = False,
    unit: Annotated[str, typer.Option(help="Unit of signals created with --create.")] = "",
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Load recordings into the store, reporting every rejected row or capture.

    CSV and Parquet tables give scalar signals. WAV, MATLAB .mat, NumPy .npy/.npz and
    folders or tar archives of capture files give waveform signals, cut into blocks.
    Anything that cannot be read goes to the dead-letter table with its file (member),
    line and reason (see `shopfloor dead-letters`); nothing is dropped silently.
    """
    proj = load(project)
    if fmt not in _FORMAT_CHOICES:
        fail(f"--format must be one of {', '.join(_FORMAT_CHOICES)}, got {fmt!r}", EXIT_CONFIG)
    if kind not in ("auto", "scalar", "waveform"):
        fail(f"--kind must be auto, scalar or waveform, got {kind!r}", EXIT_CONFIG)
    if time_format not in TIME_FORMATS and "%" not in time_format:
        fail(
            f"--time-format must be one of {', '.join(TIME_FORMATS)} or a strptime pattern "
            f"like '%d.%m.%Y %H:%M:%S', got {time_format!r}",
            EXIT_CONFIG,
        )
    if asset is None:
        fail("--asset is required (the ISA-95 path of the machine)", EXIT_CONFIG)
    try:
        asset_path = validate_asset_path(asset)
    except ValueError as err:
        fail(f"--asset: {err}", EXIT_CONFIG)
    start_ns = _parse_time_option(start, "--start")
    if interval_s is not None and not (interval_s > 0 and math.isfinite(interval_s)):
        fail(f"--interval-s must be > 0, got {interval_s}", EXIT_CONFIG)
    if rate is not None and not (rate > 0 and math.isfinite(rate)):
        fail(f"--rate must be > 0, got {rate}", EXIT_CONFIG)
    try:
        found = _expand_paths(paths, fmt)
        times = _TimeOptions(start_ns, rate, _rate_for_items(rate_for), interval_s, timezone)
        tables = found[0][1] in _TABLE_FORMATS
        if kind != "auto" and (kind == "scalar") != tables:
            family = "CSV and Parquet tables load" if tables else f"{found[0][1]} recordings load"
            raise ConfigError(
                f"--kind {kind}: {family} {'scalar' if tables else 'waveform'} signals"
            )
        if tables:
            _not_for(
                "table",
                {
                    "--channels/--variables": channels is not None,
                    "--block-s": block_s is not None,
                    "--scale": scale is not None,
                    "--name-time-format": name_time_format is not None,
                    "--time-columns": time_columns is not None,
                    "--date": date is not None,
                    "--rows": rows is not None,
                    "--files": files is not None,
                },
            )
            readers, wanted = _table_readers(
                found,
                asset_path,
                map_,
                signal,
                value_column,
                time_column,
                time_format,
                times,
                delimiter,
                True if header is None else header,
                skip_rows,
                decimal,
            )
        else:
            _not_for(
                "waveform",
                {
                    "--value-column": value_column is not None,
                    "--time-column": time_column is not None,
                    "--time-format": time_format != "iso",
                    "--skip-rows": skip_rows != 0,
                },
            )
            entries = _waveform_entries(map_, signal, channels, {k for _, k in found})
    except (ConfigError, ValueError) as err:
        fail(str(err), EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        store = await open_project_store(proj)
        try:
            if tables:
                await _ensure_signals(
                    store, proj, asset_path, sorted(set(wanted.values())), create, unit
                )
                all_readers = readers
            else:
                all_readers = await _waveform_readers(
                    store,
                    proj,
                    asset_path,
                    found,
                    entries,
                    times,
                    create=create,
                    unit=unit,
                    options={
                        "block_s": block_s,
                        "scale": scale,
                        "name_time_format": name_time_format,
                        "time_columns": time_columns,
                        "date": date,
                        "rows": rows,
                        "files": files,
                        "delimiter": delimiter,
                        "header": header,
                        "decimal": None if decimal == "." else decimal,
                    },
                )
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=json_,
                transient=False,
            ) as bar:
                progress = _progress_of(bar, all_readers)

                report = await ingest_recordings(store, all_readers, progress=progress)
            return report.as_dict()
        finally:
            await store.close()

    summary = run_async(run)
    if json_:
        print_json(summary)
        return
    _print_ingest(summary)


def _progress_of(
    bar: Progress, readers: list[RecordingReader]
) -> Callable[[RecordingReader, int], None]:
    """One bar per recording; one bar for them all when there are more than four."""
    if len(readers) <= 4:
        tasks = {id(r): bar.add_task(r.path.name, total=r.total) for r in readers}

        def each(reader: RecordingReader, done: int) -> None:
            bar.update(tasks[id(reader)], completed=done)

        return each
    task = bar.add_task(f"{len(readers)} files", total=sum(r.total for r in readers))
    done_by: dict[int, int] = {}

    def overall(reader: RecordingReader, done: int) -> None:
        done_by[id(reader)] = done
        bar.update(task, completed=sum(done_by.values()))

    return overall


def _table_readers(
    found: list[tuple[Path, str]],
    asset_path: str,
    map_: list[str] | None,
    signal: str | None,
    value_column: str | None,
    time_column: str | None,
    time_format: str,
    times: _TimeOptions,
    delimiter: str | None,
    header: bool,
    skip_rows: int,
    decimal: str,
) -> tuple[list[RecordingReader], dict[str, str]]:
    """Readers of CSV/Parquet files and the column → signal mapping they use."""
    if times.start_ns is not None and times.rate is None and not times.rate_for:
        raise ConfigError("--start and --rate go together")
    if times.start_ns is None and (times.rate is not None or times.rate_for):
        raise ConfigError("--start and --rate go together")
    if times.start_ns is not None and len(found) > 1 and times.interval_s is None:
        raise ConfigError(
            f"{len(found)} files with --start: give --interval-s so that file k starts at "
            "start + k x interval (else they would all start at the same time)"
        )
    readers: list[RecordingReader] = []
    wanted: dict[str, str] = {}
    for k, (path, kind) in enumerate(found):
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        names = _columns_of(path, kind, delimiter, header, skip_rows)
        tcol = time_column
        if tcol is None and times.start_ns is None:
            tcol = next((n for n in names if n.strip().lower() in _TIME_NAMES), None)
            if tcol is None:
                raise ConfigError(
                    f"{path}: no time column found among {', '.join(names[:20])}; pass "
                    "--time-column, or --start and --rate"
                )
        if tcol is not None and tcol not in names:
            raise ConfigError(f"{path}: no column {tcol!r} (columns: {', '.join(names[:30])})")
        mapping = _mapping(map_, signal, value_column, names, tcol, path)
        wanted.update(mapping)
        start_k = times.start_of(k)
        options = {
            "time_column": tcol,
            "time_format": time_format,
            "timezone": times.timezone,
            "start": start_k,
            "rate_hz": times.rate_of(path) if start_k is not None else None,
            "delimiter": delimiter,
            "header": header,
            "skip_rows": skip_rows,
            "decimal": decimal,
        }
        readers.append(
            open_recording(
                path,
                fmt=kind,
                options=options,
                columns={c: SignalRef(asset_path, s) for c, s in mapping.items()},
            )
        )
    return readers, wanted


def _mapping(
    map_: list[str] | None,
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


@dataclass(frozen=True)
class _Entry:
    """One waveform source: which column/variable/channel, into which signal and channel."""

    source: str
    signal: str
    channel: str | None = None


def _waveform_entries(
    map_: list[str] | None, signal: str | None, channels: str | None, formats: set[str]
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
    store: Store,
    proj: Project,
    asset: str,
    found: list[tuple[Path, str]],
    entries: list[_Entry],
    times: _TimeOptions,
    *,
    create: bool,
    unit: str,
    options: dict[str, Any],
) -> list[RecordingReader]:
    """Readers of waveform recordings, after checking (or creating) their signals."""
    known = {i.ref: i for i in await store.signals()}
    columns, new_channels = _waveform_columns(known, asset, entries)
    refs = list(dict.fromkeys(columns.values()))
    units = {r.name: (known[r].definition.unit if r in known else unit) for r in refs}
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
        opts = _waveform_options(path, kind, k, len(found), times, rate, units, options)
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
            unit=unit,
            sample_rate_hz=create_rate,
            channels=new_channels.get(name),
        )

    await _ensure_signals(
        store,
        proj,
        asset,
        [r.name for r in refs],
        create,
        unit,
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
    given: dict[str, Any],
) -> dict[str, Any]:
    """The reader options of the k-th waveform recording."""
    opts: dict[str, Any] = {"rate_hz": rate, "unit": units}
    if given["scale"] is not None:
        opts["scale"] = given["scale"]
    capture_only = (
        "name_time_format",
        "time_columns",
        "date",
        "rows",
        "files",
        "delimiter",
        "header",
        "decimal",
    )
    if kind == "captures":
        opts.update({key: given[key] for key in capture_only if given[key] is not None})
        opts["timezone"] = times.timezone
        if given["block_s"] is not None:
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
        elif given["name_time_format"] is None and given["time_columns"] is None:
            raise ConfigError(
                f"{path}: say when the captures were taken: --start with --interval-s, "
                "--name-time-format (time in the file names), or --time-columns with --date"
            )
        return opts
    wrong = [f"--{key.replace('_', '-')}" for key in capture_only if given[key] is not None]
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
    if given["block_s"] is not None:
        opts["block_s"] = given["block_s"]
    return opts


async def _ensure_signals(
    store: Store,
    proj: Project,
    asset: str,
    names: list[str],
    create: bool,
    unit: str,
    *,
    kind: SignalKind = SignalKind.SCALAR,
    make: Callable[[str], Signal] | None = None,
) -> None:
    """Check the signals exist with ``kind``; register the missing ones with ``--create``.

    ``make`` builds the definition of a missing signal (default: scalar with ``unit``).
    """
    known = {i.ref: i for i in await store.signals()}
    missing = [n for n in names if SignalRef(asset, n) not in known]
    for name in names:
        info = known.get(SignalRef(asset, name))
        if info is not None and info.kind != kind:
            source = (
                "tabular files load scalar signals"
                if kind == SignalKind.SCALAR
                else (
                    "waveform recordings load waveform signals (declare kind: waveform, "
                    "sample_rate_hz and channels)"
                )
            )
            raise ConfigError(f"signal {name!r} of {asset!r} is {info.kind}; {source}")
    if not missing:
        return
    if not create:
        declared = sorted(i.ref.name for i in known.values() if i.ref.asset == asset)
        extra = "" if kind == SignalKind.SCALAR else " --rate HZ and channel names"
        raise ConfigError(
            f"{asset!r} has no signal {', '.join(map(repr, missing))} (declared: "
            f"{', '.join(declared) or 'none'}); declare it in {proj.file.name} or pass --create "
            f"[--unit U]{extra}"
        )
    try:
        definitions = [make(n) if make else Signal(name=n, unit=unit) for n in missing]
        await store.register_signals(asset, definitions)
    except ValueError as err:
        raise ConfigError(f"--create: {err}") from err


def _print_ingest(s: dict[str, Any]) -> None:
    if s.get("waveform_blocks"):
        console.print(
            f"[bold green]ingested[/] {s['values_written']:,} of {s['waveform_blocks']:,} "
            f"waveform blocks ({s['waveform_samples']:,} samples) from "
            f"{len(s['files'])} recording(s) in {s['seconds']:.1f} s"
        )
    else:
        console.print(
            f"[bold green]ingested[/] {s['values_written']:,} values from {s['rows']:,} rows of "
            f"{len(s['files'])} file(s) in {s['seconds']:.1f} s"
            + (f" ({s['rows_per_s']:,} rows/s)" if s["rows_per_s"] else "")
        )
    if s["duplicates"]:
        console.print(f"  {s['duplicates']:,} values were already stored (duplicates, kept once)")
    if s["blank_lines"]:
        console.print(f"  {s['blank_lines']:,} blank lines skipped")
    rejected = s["rows_rejected"] + s["values_rejected"]
    if rejected:
        console.print(f"[yellow]  {rejected:,} rejected[/] and kept in the dead letters:")
        for reason, count in sorted(s["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
            console.print(f"    {count:>10,}  {reason}")
        for example in s["examples"][:5]:
            console.print(f"    e.g. {example['location']}: {example['reason']}", highlight=False)
        console.print("  see them all with: shopfloor dead-letters")


def _ref_from(asset: str | None, signal: str) -> SignalRef:
    try:
        if asset is None:
            return SignalRef.parse(signal)
        return SignalRef.checked(asset, signal)
    except ValueError as err:
        fail(f"--asset/--signal: {err}", EXIT_CONFIG)


def query(
    signal: Annotated[str, typer.Option(help="Signal name (or full asset/.../signal path).")],
    asset: Annotated[str | None, typer.Option(help="ISA-95 path of the asset.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (ISO 8601 or now-1h); default: first value.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(help="End, exclusive (ISO 8601 or now); default: after the last value."),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="Downsample to min/max/mean per bucket, e.g. 1s, 5min.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Read a signal's values (scalars, or waveform blocks and events as summaries)."""
    proj = load(project)
    ref = _ref_from(asset, signal)
    start_opt = _parse_time_option(from_, "--from")
    end_opt = _parse_time_option(to, "--to")
    every_ns = None
    if every is not None:
        try:
            every_ns = int(parse_duration_s(every) * 1e9)
        except ValueError as err:
            fail(f"--every: {err}", EXIT_CONFIG)
        if every_ns <= 0:
            fail("--every must be longer than 0", EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        store = await open_project_store(proj)
        try:
            infos = {i.ref: i for i in await store.signals()}
            info = infos.get(ref)
            if info is None:
                same = sorted(r.name for r in infos if r.asset == ref.asset)
                raise ConfigError(
                    f"no signal {ref.path!r} in the store (signals of that asset: "
                    f"{', '.join(same) or 'none'})"
                )
            span = await store.time_range(ref)
            start = start_opt if start_opt is not None else (span[0] if span else 0)
            end = end_opt if end_opt is not None else (span[1] + 1 if span else now_ns())
            out: dict[str, Any] = {
                "signal": ref.path,
                "kind": str(info.kind),
                "unit": info.definition.unit,
                "from": format_ns(start),
                "to": format_ns(end),
            }
            if info.kind == SignalKind.SCALAR:
                if every_ns is not None:
                    table = await store.read_scalars_downsampled(ref, start, end, every_ns)
                    if limit is not None:
                        table = table.slice(0, limit)
                    out["every"] = every
                    cols = ["min", "max", "mean", "count"]
                else:
                    table = await store.read_scalars(ref, start, end, limit=limit)
                    cols = ["value", "quality"]
                import pyarrow as pa

                ts = table.column("ts").cast(pa.int64()).to_pylist()
                out["rows"] = [
                    {"ts": format_ns(t), **{c: table.column(c)[i].as_py() for c in cols}}
                    for i, t in enumerate(ts)
                ]
            elif info.kind == SignalKind.WAVEFORM:
                import numpy as np

                blocks = await store.read_waveforms(ref, start, end, limit=limit or 1000)
                out["rows"] = [
                    {
                        "ts": format_ns(b.t0_ns),
                        "sample_rate_hz": b.sample_rate_hz,
                        "n_samples": b.n_samples,
                        "n_channels": b.n_channels,
                        "rms": np.sqrt(np.mean(np.square(b.data.astype(float)), axis=0))
                        .round(6)
                        .tolist(),
                    }
                    for b in blocks
                ]
            elif info.kind == SignalKind.EVENT:
                events = await store.read_events(start, end, ref=ref, limit=limit or 1000)
                out["rows"] = [
                    {
                        "ts": format_ns(e.ts_ns),
                        "kind": e.kind,
                        "severity": e.severity,
                        "message": e.message,
                        "attributes": dict(e.attributes),
                    }
                    for e in events
                ]
            else:
                images = await store.read_images(ref, start, end, limit=limit or 1000)
                out["rows"] = [
                    {
                        "ts": format_ns(r.ts_ns),
                        "format": r.format,
                        "shape": list(r.shape),
                        "bytes": len(r.data),
                    }
                    for r in images
                ]
            return out
        finally:
            await store.close()

    result = run_async(run)
    if json_:
        print_json(result)
        return
    rows = result["rows"]
    table = Table(title=f"{result['signal']} [{result['unit'] or '-'}] ({len(rows):,} rows)")
    if rows:
        for key in rows[0]:
            table.add_column(key, justify="right" if key != "ts" else "left")
        shown = rows if len(rows) <= 40 else [*rows[:20], None, *rows[-20:]]
        for row in shown:
            if row is None:
                table.add_row(*(["…"] * len(rows[0])))
            else:
                table.add_row(*(_cell(v) for v in row.values()))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def signals(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the signals the store knows, with how much data each has."""
    proj = load(project)

    async def run() -> list[dict[str, Any]]:
        store = await open_project_store(proj)
        try:
            out = []
            for info in await store.signals():
                span = await store.time_range(info.ref)
                out.append(
                    {
                        "signal": info.ref.path,
                        "kind": str(info.kind),
                        "unit": info.definition.unit,
                        "count": await store.count(info.ref),
                        "first": format_ns(span[0]) if span else None,
                        "last": format_ns(span[1]) if span else None,
                    }
                )
            return out
        finally:
            await store.close()

    rows = run_async(run)
    if json_:
        print_json(rows)
        return
    table = Table(title=f"signals of {proj.config.project.name}")
    for column in ("signal", "kind", "unit", "count", "first", "last"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for row in rows:
        table.add_row(
            row["signal"],
            row["kind"],
            row["unit"] or "-",
            f"{row['count']:,}",
            row["first"] or "-",
            row["last"] or "-",
        )
    console.print(table)


def dead_letters(
    since: Annotated[
        str | None, typer.Option(help="Only those received since (ISO 8601 or now-1h).")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Only from this source (ingest, a connector).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Show rejected input with the reason it was rejected."""
    proj = load(project)
    since_ns = _parse_time_option(since, "--since")

    async def run() -> dict[str, Any]:
        store = await open_project_store(proj)
        try:
            total = await store.count_dead_letters(since_ns=since_ns, source=source)
            letters = await store.read_dead_letters(since_ns=since_ns, source=source, limit=limit)
            return {
                "total": total,
                "shown": len(letters),
                "dead_letters": [
                    {
                        "received": format_ns(d.received_ns),
                        "source": d.source,
                        "location": d.location,
                        "reason": d.reason,
                        "payload": d.payload.decode("utf-8", "replace")
                        if isinstance(d.payload, bytes)
                        else d.payload,
                    }
                    for d in letters
                ],
            }
        finally:
            await store.close()

    result = run_async(run)
    if json_:
        print_json(result)
        return
    table = Table(title=f"dead letters: {result['shown']:,} of {result['total']:,}")
    for column in ("received", "source", "location", "reason", "payload"):
        table.add_column(column, overflow="fold")
    for d in result["dead_letters"]:
        payload = d["payload"]
        table.add_row(
            d["received"],
            d["source"],
            d["location"],
            d["reason"],
            payload if len(payload) < 80 else payload[:77] + "…",
        )
    console.print(table)
