"""Parquet recordings: typed columns, read row group by row group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shopfloor.connectors.recordings.base import Chunk
from shopfloor.connectors.recordings.layout import TableLayout
from shopfloor.connectors.recordings.timeparse import parse_numbers, parse_times
from shopfloor.errors import ConfigError
from shopfloor.model import DeadLetter, Provenance, ScalarBatch, now_ns

__all__ = ["ParquetReader"]


class ParquetReader:
    """Read a Parquet file into scalar batches; locations are 1-based row numbers."""

    def __init__(self, path: str | Path, layout: TableLayout, *, connector: str = "ingest") -> None:
        self.path = Path(path)
        self.layout = layout
        self.connector = connector
        try:
            self._file = pq.ParquetFile(self.path)
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: no such file") from None
        except (pa.ArrowInvalid, OSError) as err:
            raise ConfigError(f"{self.path}: not a Parquet file: {err}") from err
        self.total = int(self._file.metadata.num_rows)
        """Rows in the file."""
        names = self._file.schema_arrow.names
        wanted = list(layout.columns) + ([layout.time_column] if layout.time_column else [])
        missing = [c for c in wanted if c not in names]
        if missing:
            raise ConfigError(
                f"{self.path}: no column {', '.join(map(repr, missing))} "
                f"(columns: {', '.join(names[:30])})"
            )

    def chunks(self) -> Iterator[Chunk]:
        """Read batch by batch."""
        layout = self.layout
        columns = list(layout.columns) + ([layout.time_column] if layout.time_column else [])
        done = 0
        for batch in self._file.iter_batches(batch_size=1_000_000, columns=columns):
            n = batch.num_rows
            rows = done + 1 + np.arange(n, dtype=np.int64)
            chunk = Chunk(rows=n)
            bad = np.zeros(n, dtype=bool)
            reasons: dict[int, str] = {}
            if layout.time_column is not None:
                column = batch.column(batch.schema.get_field_index(layout.time_column))
                local: dict[int, str] = {}
                ts, ok = parse_times(
                    column,
                    layout.time_format,
                    timezone=layout.timezone,
                    ambiguous=layout.ambiguous,
                    nonexistent=layout.nonexistent,
                    problems=local,
                )
                for row in np.flatnonzero(~ok).tolist():
                    why = local.get(row, "no readable time")
                    reasons[row] = f"column {layout.time_column!r}: {why}"
                bad |= ~ok
            else:
                assert layout.start_ns is not None and layout.rate_hz is not None
                ts = layout.start_ns + np.round((rows - 1) * (1e9 / layout.rate_hz)).astype(
                    np.int64
                )
            ingest = now_ns()
            for name, ref in layout.columns.items():
                column = batch.column(batch.schema.get_field_index(name))
                if not (
                    pa.types.is_integer(column.type)
                    or pa.types.is_floating(column.type)
                    or pa.types.is_string(column.type)
                    or pa.types.is_boolean(column.type)
                ):
                    raise ConfigError(f"{self.path}: column {name!r} is {column.type}, not numbers")
                if pa.types.is_boolean(column.type):
                    column = column.cast(pa.uint8())
                values, ok = parse_numbers(column)
                failed = ~ok & ~bad
                for row in np.flatnonzero(failed).tolist():
                    reasons[row] = f"{reasons[row]}; " if row in reasons else ""
                    reasons[row] += f"column {name!r} is null or not a number"
                keep = ok & ~bad
                if keep.any():
                    chunk.scalars.append(
                        (
                            ScalarBatch.of(
                                ref,
                                ts[keep],
                                values[keep],
                                Provenance(self.connector, f"{self.path}#{name}"),
                                ingest_ns=ingest,
                            ),
                            rows[keep],
                        )
                    )
            if reasons:
                table = pa.Table.from_batches([batch])
                for row, reason in sorted(reasons.items()):
                    chunk.rejected.append(
                        DeadLetter(
                            source=self.connector,
                            location=f"{self.path}:row {int(rows[row])}",
                            reason=reason,
                            payload=str(table.slice(row, 1).to_pylist()[0]),
                            detail={
                                "category": "unparseable",
                                "file": str(self.path),
                                "row": int(rows[row]),
                            },
                        )
                    )
            done += n
            chunk.progress = done
            yield chunk
