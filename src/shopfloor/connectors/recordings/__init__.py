"""Recorded files (CSV, Parquet, ...) into the store through the same checks as live data."""

from shopfloor.connectors.recordings.base import Chunk, RecordingReader
from shopfloor.connectors.recordings.csv import CsvReader, sniff_delimiter
from shopfloor.connectors.recordings.ingest import IngestReport, ingest_recordings
from shopfloor.connectors.recordings.layout import TableLayout
from shopfloor.connectors.recordings.parquet import ParquetReader
from shopfloor.connectors.recordings.timeparse import TIME_FORMATS, parse_numbers, parse_times

__all__ = [
    "TIME_FORMATS",
    "Chunk",
    "CsvReader",
    "IngestReport",
    "ParquetReader",
    "RecordingReader",
    "TableLayout",
    "ingest_recordings",
    "parse_numbers",
    "parse_times",
    "sniff_delimiter",
]
