"""Which reader reads which recording, from the file name or an explicit format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shopfloor.connectors.recordings.base import RecordingReader
from shopfloor.connectors.recordings.captures import ARCHIVE_SUFFIXES, open_captures
from shopfloor.connectors.recordings.csv import CsvReader
from shopfloor.connectors.recordings.layout import TableLayout
from shopfloor.connectors.recordings.matlab import open_mat
from shopfloor.connectors.recordings.numpy_files import open_numpy
from shopfloor.connectors.recordings.options import TableOptions, read_options
from shopfloor.connectors.recordings.parquet import ParquetReader
from shopfloor.connectors.recordings.wav import open_wav
from shopfloor.errors import ConfigError
from shopfloor.model import SignalRef

__all__ = ["FORMATS", "FORMAT_SUFFIXES", "detect_format", "open_recording"]

Opener = Callable[[Path, Mapping[str, SignalRef], Mapping[str, Any], str], RecordingReader]

_SUFFIXES = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".wav": "wav",
    ".mat": "mat",
    ".npy": "npy",
    ".npz": "npy",
    **dict.fromkeys(ARCHIVE_SUFFIXES, "captures"),
}


def _table_layout(columns: Mapping[str, SignalRef], options: Mapping[str, Any]) -> TableLayout:
    opts = read_options("table", options, TableOptions)
    try:
        return TableLayout(
            columns=dict(columns),
            time_column=opts.time_column,
            time_format=opts.time_format,
            timezone=opts.timezone,
            ambiguous=opts.ambiguous,
            nonexistent=opts.nonexistent,
            start_ns=opts.start,
            rate_hz=opts.rate_hz,
            delimiter=opts.delimiter,
            header=opts.header,
            skip_rows=opts.skip_rows,
            decimal=opts.decimal,
            encoding=opts.encoding,
        )
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _csv(
    path: Path, columns: Mapping[str, SignalRef], options: Mapping[str, Any], connector: str
) -> RecordingReader:
    return CsvReader(path, _table_layout(columns, options), connector=connector)


def _parquet(
    path: Path, columns: Mapping[str, SignalRef], options: Mapping[str, Any], connector: str
) -> RecordingReader:
    return ParquetReader(path, _table_layout(columns, options), connector=connector)


FORMATS: dict[str, Opener] = {
    "csv": _csv,
    "parquet": _parquet,
    "wav": open_wav,
    "mat": open_mat,
    "npy": open_numpy,
    "captures": open_captures,
}
"""Format name → function opening a reader; format modules add themselves here.

``csv`` and ``parquet`` give scalar batches; ``wav``, ``mat``, ``npy`` (``.npy`` and
``.npz``) and ``captures`` (a folder or tar archive of capture files) give waveform blocks.
"""

FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {}
"""Format → the file-name endings detected as that format."""
for _suffix, _fmt in _SUFFIXES.items():
    FORMAT_SUFFIXES[_fmt] = (*FORMAT_SUFFIXES.get(_fmt, ()), _suffix)


def detect_format(path: Path) -> str:
    """The format of ``path`` from its name; ``ConfigError`` when it cannot tell.

    A folder is a folder of captures; so is a tar archive (``.tar.xz``, ``.tar.gz``, ...).

    Examples
    --------
    >>> detect_format(Path("Bearing1_2.tar.xz")), detect_format(Path("97.mat"))
    ('captures', 'mat')
    """
    if path.is_dir():
        return "captures"
    name = path.name.lower()
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise ConfigError(
        f"{path}: cannot tell the format from the name; give the format "
        f"({', '.join(sorted(FORMATS))})"
    )


def open_recording(
    path: str | Path,
    *,
    fmt: str = "auto",
    columns: Mapping[str, SignalRef],
    options: Mapping[str, Any] | None = None,
    connector: str = "ingest",
) -> RecordingReader:
    """Open a recording for reading.

    Parameters
    ----------
    path
        File (or folder, for formats that read folders).
    fmt
        A key of :data:`FORMATS`, or ``auto`` to tell from the name.
    columns
        Source column / variable / channel name → signal.
    options
        Format options, checked by the format (an unknown or invalid one is a
        ``ConfigError`` naming it). Tables: time_column, time_format, timezone,
        ambiguous, nonexistent, start, rate_hz, delimiter, header, skip_rows, decimal,
        encoding (CSV).
        wav/mat/npy: start, rate_hz (wav:
        from the header unless given), block_s, scale, unit. captures: rate_hz, one of
        start + interval_s / name_time_format / time_columns + date, timezone, files,
        delimiter, header, decimal, rows, scale, unit.
    connector
        Name recorded in provenance.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder")
    fmt = detect_format(path) if fmt == "auto" else fmt
    opener = FORMATS.get(fmt)
    if opener is None:
        raise ConfigError(f"unknown recording format {fmt!r} (known: {', '.join(sorted(FORMATS))})")
    return opener(path, columns, dict(options or {}), connector)
