"""The options of an ingest, with the help each one shows: :class:`IngestOptions`.

Apart from :mod:`shopfloor.services.ingest` (which imports the readers, numpy and DuckDB)
so that ``shopfloor ingest --help`` builds its options from these fields without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shopfloor.services.options import option as _option

__all__ = ["IngestOptions"]


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest and how: the options of ``shopfloor ingest``, by the same names.

    Each field's ``metadata["help"]`` is the help ``shopfloor ingest --help`` shows for it,
    ``metadata["flags"]`` the option's spelling and bounds when they are not the default.

    Parameters
    ----------
    paths
        Recording files or folders (a folder with a file ``fmt`` is every such file in it).
    asset
        ISA-95 path of the asset the data belongs to.
    signal, value_column, map, channels
        Which column/source goes to which signal (see ``shopfloor ingest --help``).
    time_column, time_format, timezone
        Where the timestamps are and how to read them.
    ambiguous, nonexistent
        Local times a DST change makes ambiguous (they happen twice) or nonexistent (in
        the gap): ``raise`` rejects the row, ``earliest`` or ``latest`` picks an instant.
    start, rate, rate_for, interval_s
        Timing of files without timestamps (``rate_for``: ``(glob, hz)`` pairs).
    block_s, scale, name_time_format, time_columns, date, rows, files
        Waveform and capture options.
    delimiter, header, skip_rows, decimal, encoding
        Text layout (``header`` ``None``: yes for tables, no for captures; ``encoding``:
        of CSV tables, e.g. ``cp1252``).
    fmt, kind
        File format (``auto``: from the name) and signal kind (``auto``, scalar, waveform).
    create, unit
        Register undeclared signals, with this unit.
    """

    paths: tuple[Path, ...] = field(
        metadata={
            "help": (
                "Recording files, or folders: a folder (or .tar.xz/.tar.gz archive) of "
                "capture files, or with --format wav/mat/npy/csv/parquet every such file in "
                "it."
            )
        }
    )
    asset: str | None = _option(None, "ISA-95 path of the asset the data belongs to.")
    signal: str | None = _option(
        None,
        "Signal to store one value column as (tables), or the waveform signal the "
        "--channels go to.",
    )
    value_column: str | None = _option(
        None,
        "Column holding --signal's values (default: the only non-time column).",
    )
    map: tuple[str, ...] = _option(
        (),
        "COLUMN=SIGNAL, repeatable. Waveforms: SOURCE=SIGNAL[:CHANNEL], where SOURCE "
        "is a column, variable or channel name, a glob (*_DE_time) or re:REGEX; "
        "several sources of one signal are its channels in the order given (or by "
        "CHANNEL name).",
    )
    channels: str | None = _option(
        None,
        "Waveforms, with --signal: the sources in channel order, comma-separated, "
        "each SOURCE or SOURCE=CHANNEL (WAV/.npy channels 1,2,..; capture columns "
        "1,2,.. or header names; .mat/.npz variable names or globs). Default: all "
        "channels.",
        param_decls=("--channels", "--variables"),
    )
    time_column: str | None = _option(
        None,
        "Timestamp column (default: one named time/timestamp/ts).",
    )
    time_format: str = _option(
        "iso",
        "iso, epoch_s, epoch_ms, epoch_us, epoch_ns or a strptime pattern.",
    )
    timezone: str = _option("UTC", "IANA zone of timestamps without an offset.")
    ambiguous: str = _option(
        "raise",
        "raise, earliest or latest: a --timezone local time that happens twice "
        "(clocks go back); raise rejects the row.",
    )
    nonexistent: str = _option(
        "raise",
        "raise, earliest or latest: a --timezone local time that does not exist "
        "(clocks go forward); raise rejects the row.",
    )
    start: str | None = _option(
        None,
        "Time of the first row (tables, with --rate) or first sample (wav/mat/npy), "
        "or of the first capture (with --interval-s).",
    )
    rate: float | None = _option(
        None,
        "Tables: rows per second, with --start. Waveforms: sample rate in Hz (WAV: "
        "overrides the header; default: the signal's sample_rate_hz).",
    )
    rate_for: tuple[str, ...] = _option(
        (),
        "FILE_GLOB=HZ, repeatable: the rate of the files whose name matches, instead "
        "of --rate (e.g. 'normal_*=48000').",
    )
    interval_s: float | None = _option(
        None,
        "With --start: file k (or capture k) starts at start + k x interval; needed "
        "when several files share --start.",
    )
    block_s: float | None = _option(
        None,
        "wav/mat/npy: seconds per stored block (default 1; 0 = one block per file).",
    )
    scale: float | None = _option(
        None,
        "Waveforms: multiply every value (WAV: the value at full scale, integer PCM "
        "being first scaled to +-1.0).",
    )
    name_time_format: str | None = _option(
        None,
        "Captures: strptime pattern of the time in the file names.",
    )
    time_columns: str | None = _option(
        None,
        "Captures: columns of hour,minute,second[,microsecond] of the first row (with --date).",
    )
    date: str | None = _option(None, "Captures with --time-columns: the day of the first capture.")
    rows: int | None = _option(
        None,
        "Captures: rows each must have (default: as many as the first one).",
        min=1,
    )
    files: str | None = _option(None, "Captures: glob of the file names to read (default: all).")
    delimiter: str | None = _option(None, "Field separator (default: detected).")
    header: bool | None = _option(
        None,
        "First line names the columns (default: yes for tables, no for captures).",
        param_decls=("--header/--no-header",),
        show_default=False,
    )
    skip_rows: int = _option(0, "Lines to skip before the header.", min=0)
    decimal: str = _option(".", "Decimal separator of the numbers.")
    encoding: str = _option("utf-8", "Text encoding of CSV files, e.g. cp1252 (Windows), latin-1.")
    fmt: str = _option(
        "auto",
        "auto, csv, parquet, wav, mat, npy, captures (auto: from the name).",
        param_decls=("--format",),
    )
    kind: str = _option(
        "auto",
        "auto, scalar or waveform: what the signals are (tables load scalars, the "
        "other formats waveforms).",
    )
    create: bool = _option(
        False,
        "Register signals the project does not declare (waveforms: with --rate, and "
        "channel names from --channels SOURCE=CHANNEL).",
    )
    unit: str = _option(
        "",
        "Unit of signals created with --create (refused when it differs from a "
        "declared signal's unit: values are not converted).",
    )
