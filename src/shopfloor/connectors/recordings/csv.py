"""CSV recordings: wide tables, ``,`` ``;`` or tab separated, gzip or plain.

Parsed by Arrow's streaming CSV reader in blocks (no file is held whole in memory, not
even a 10-million-row one), every cell first as text; numbers and times are then parsed
column-wise, and rows that fail (too many or too few fields, text in a number column, an
unreadable time) become dead letters naming the file, line and column.
"""

from __future__ import annotations

import codecs
import csv as stdlib_csv
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shopfloor.connectors.recordings.base import Chunk
from shopfloor.connectors.recordings.layout import TableLayout
from shopfloor.connectors.recordings.timeparse import parse_numbers, parse_times
from shopfloor.errors import ConfigError
from shopfloor.model import DeadLetter, Provenance, ScalarBatch, now_ns

__all__ = ["CsvReader", "read_head", "read_text_sample", "sniff_delimiter"]


def _open_raw(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    raw = path.open("rb")
    if path.suffix == ".gz":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw, raw


def sniff_delimiter(sample: str) -> str:
    """Guess the separator of a CSV sample among ``,`` ``;`` tab and ``|``."""
    try:
        return stdlib_csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except stdlib_csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


class CsvReader:
    """Read a CSV recording into scalar batches, chunk by chunk.

    Parameters
    ----------
    path
        The file (``.csv`` or ``.csv.gz``).
    layout
        Column mapping and time rules.
    connector
        Name recorded in provenance.
    """

    def __init__(self, path: str | Path, layout: TableLayout, *, connector: str = "ingest") -> None:
        self.path = Path(path)
        self.layout = layout
        self.connector = connector
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no such file")
        self.total = self.path.stat().st_size

    def _head(self) -> tuple[str, list[str]]:
        sample = read_head(self.path, self.layout.encoding)
        lines = sample.splitlines()[self.layout.skip_rows :]
        delimiter = self.layout.delimiter or sniff_delimiter("\n".join(lines[:50]))
        first = next((line for line in lines if line.strip()), "")
        fields = next(stdlib_csv.reader([first], delimiter=delimiter), [])
        return delimiter, [f.strip() for f in fields]

    def _column_names(self, delimiter: str, first: list[str]) -> tuple[list[str], int]:
        """Column names and the (1-based) line of the first data row."""
        layout = self.layout
        if layout.header:
            names = first
            first_data_line = layout.skip_rows + 2
        else:
            names = [str(i + 1) for i in range(len(first))]
            first_data_line = layout.skip_rows + 1
        wanted = list(layout.columns) + ([layout.time_column] if layout.time_column else [])
        missing = [c for c in wanted if c not in names]
        if missing:
            raise ConfigError(
                f"{self.path}: no column {', '.join(map(repr, missing))} (columns: "
                f"{', '.join(names[:30])}{' ...' if len(names) > 30 else ''}; "
                f"separator {delimiter!r})"
            )
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"{self.path}: column names repeat: {', '.join(dupes)}")
        return names, first_data_line

    def chunks(self) -> Iterator[Chunk]:
        """Read the file block by block."""
        layout = self.layout
        delimiter, first = self._head()
        names, first_data_line = self._column_names(delimiter, first)
        invalid: list[tuple[int, str, int, int]] = []

        def on_invalid(row: Any) -> str:
            invalid.append(
                (
                    int(row.number) if row.number is not None else -1,
                    row.text,
                    int(row.expected_columns),
                    int(row.actual_columns),
                )
            )
            return "skip"

        raw, stream = _open_raw(self.path)
        with raw:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    use_threads=False,
                    block_size=layout.block_size,
                    encoding=layout.encoding,
                    skip_rows=layout.skip_rows + (1 if layout.header else 0),
                    column_names=names,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter,
                    invalid_row_handler=on_invalid,
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            kept_rows = 0
            blank_before = 0
            reported_invalid = 0
            skipped_lines = np.empty(0, dtype=np.int64)
            last_line = first_data_line - 1
            batches = iter(reader)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except pa.ArrowInvalid as err:
                    raise ConfigError(self._locate(err, last_line + 1)) from err
                n = batch.num_rows
                new_invalid = invalid[reported_invalid:]
                reported_invalid = len(invalid)
                if new_invalid:
                    numbers = np.array([i[0] for i in new_invalid], dtype=np.int64)
                    skipped_lines = np.concatenate([skipped_lines, numbers])
                adj = skipped_lines - np.arange(skipped_lines.shape[0]) - first_data_line
                k = kept_rows + np.arange(n, dtype=np.int64)
                lines = first_data_line + k + np.searchsorted(adj, k, side="right")
                kept_rows += n
                if n:
                    last_line = int(lines[-1])
                chunk = self._convert(batch, names, lines, delimiter, blank_before)
                blank_before += chunk.blank
                for number, text, expected, actual in new_invalid:
                    chunk.rejected.append(
                        DeadLetter(
                            source=self.connector,
                            location=f"{self.path}:{number}",
                            reason=f"line has {actual} fields, expected {expected}",
                            payload=text,
                            detail={"category": "bad_row", "file": str(self.path), "line": number},
                        )
                    )
                chunk.rows += len(new_invalid)
                chunk.progress = raw.tell()
                yield chunk

    def _locate(self, err: pa.ArrowInvalid, from_line: int) -> str:
        """Say which line of the file Arrow could not read, and why, from ``from_line`` on."""
        block = self.layout.block_size
        utf8 = codecs.lookup(self.layout.encoding).name == "utf-8"
        raw, stream = _open_raw(self.path)
        with raw:
            for number, line in enumerate(stream, 1):
                if number < from_line:
                    continue
                if utf8:
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError as bad:
                        return _not_encoded(
                            self.path, number, bad.start + 1, line[bad.start], "utf-8"
                        )
                if len(line) >= block:
                    return (
                        f"{self.path}:{number}: a line of {len(line) / 2**20:.1f} MiB is "
                        f"longer than the read block of {block / 2**20:.0f} MiB; shorten that "
                        "field or read with a larger block_size"
                    )
        return f"{self.path}: unreadable after line {from_line - 1}: {err}"

    def _convert(
        self,
        batch: pa.RecordBatch,
        names: list[str],
        lines: npt.NDArray[np.int64],
        delimiter: str,
        blank_before: int,
    ) -> Chunk:
        layout = self.layout
        n = batch.num_rows
        columns = {name: batch.column(i) for i, name in enumerate(names)}
        lengths = [pc.utf8_length(col) for col in columns.values()]
        total_length = lengths[0]
        for length in lengths[1:]:
            total_length = pc.add(total_length, length)
        blank = np.asarray(pc.equal(total_length, 0).to_numpy(zero_copy_only=False), dtype=bool)
        chunk = Chunk(rows=n - int(blank.sum()), blank=int(blank.sum()))
        bad = blank.copy()
        reasons: dict[int, str] = {}

        if layout.time_column is not None:
            local: dict[int, str] = {}
            ts, ok = parse_times(
                columns[layout.time_column],
                layout.time_format,
                timezone=layout.timezone,
                ambiguous=layout.ambiguous,
                nonexistent=layout.nonexistent,
                problems=local,
            )
            failed = ~ok & ~bad
            if failed.any():
                texts = columns[layout.time_column].take(pa.array(np.flatnonzero(failed)))
                for row, text in zip(
                    np.flatnonzero(failed).tolist(), texts.to_pylist(), strict=True
                ):
                    fmt = (
                        "an ISO 8601"
                        if layout.time_format == "iso"
                        else f"a {layout.time_format!r}"
                    )
                    why = local.get(row) or f"{text!r} is not {fmt} time"
                    reasons[row] = f"column {layout.time_column!r}: {why}"
                bad |= failed
        else:
            assert layout.start_ns is not None and layout.rate_hz is not None
            slot = lines - 1 - (1 if layout.header else 0) - layout.skip_rows
            slot = slot - (blank_before + np.cumsum(blank) - blank)
            ts = layout.start_ns + np.round(slot * (1e9 / layout.rate_hz)).astype(np.int64)

        ingest = now_ns()
        for column, ref in layout.columns.items():
            values, ok = parse_numbers(columns[column], decimal=layout.decimal)
            failed = ~ok & ~bad
            row_bad = bad.copy()
            if failed.any():
                texts = columns[column].take(pa.array(np.flatnonzero(failed))).to_pylist()
                for row, text in zip(np.flatnonzero(failed).tolist(), texts, strict=True):
                    why = " is empty" if text == "" else f": {text!r} is not a number"
                    previous = reasons.get(row)
                    reasons[row] = f"{previous}; " if previous else ""
                    reasons[row] += f"column {column!r}{why}"
                row_bad |= failed
            keep = ~row_bad
            if keep.any():
                batch_out = ScalarBatch.of(
                    ref,
                    ts[keep],
                    values[keep],
                    Provenance(self.connector, f"{self.path}#{column}"),
                    ingest_ns=ingest,
                )
                chunk.scalars.append((batch_out, lines[keep]))
        if reasons:
            rows = sorted(reasons)
            table = pa.table(columns).take(pa.array(rows))
            texts_by_col = [table.column(name).to_pylist() for name in names]
            for j, row in enumerate(rows):
                text = delimiter.join(col[j] for col in texts_by_col)
                line = int(lines[row])
                chunk.rejected.append(
                    DeadLetter(
                        source=self.connector,
                        location=f"{self.path}:{line}",
                        reason=reasons[row],
                        payload=text,
                        detail={"category": "unparseable", "file": str(self.path), "line": line},
                    )
                )
        return chunk


def read_text_sample(path: Path, size: int = 4096, encoding: str = "utf-8") -> str:
    """The start of a (possibly gzipped) text file, for error messages and sniffing."""
    raw, stream = _open_raw(path)
    with raw:
        return stream.read(size).decode(encoding, errors="replace")


def read_head(path: Path, encoding: str = "utf-8", size: int = 65536) -> str:
    """The whole lines in the first ``size`` bytes of a (possibly gzipped) text file.

    Raises
    ------
    ConfigError
        Naming the file, line, column and byte when the text is not in ``encoding``.
    """
    raw, stream = _open_raw(path)
    with raw:
        data = stream.read(size)
    if len(data) == size and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]  # no character cut in two at the end
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError(_not_encoded(path, line, column, data[err.start], encoding)) from err


def _not_encoded(path: Path, line: int, column: int, byte: int, encoding: str) -> str:
    return (
        f"{path}:{line}: byte {byte:#04x} at column {column} is not {encoding} text; give "
        "the file's encoding (e.g. encoding cp1252 for Windows text, --encoding on the CLI)"
    )
