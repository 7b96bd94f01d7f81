"""Recorded files into the store through the same checks as live data.

Tables (CSV, Parquet) give scalar batches; WAV, MATLAB ``.mat``, NumPy ``.npy``/``.npz``
and folders or tar archives of capture files give waveform blocks. Every format is a
:class:`RecordingReader` opened through :func:`open_recording` and listed in
:data:`FORMATS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.connectors.recordings.arrayfile import ArrayFileReader
    from shopfloor.connectors.recordings.base import Chunk, RecordingReader
    from shopfloor.connectors.recordings.blocks import BlockLayout
    from shopfloor.connectors.recordings.captures import CaptureLayout, CaptureReader, natural_key
    from shopfloor.connectors.recordings.csv import CsvReader, sniff_delimiter
    from shopfloor.connectors.recordings.formats import (
        FORMAT_SUFFIXES,
        FORMATS,
        detect_format,
        open_recording,
    )
    from shopfloor.connectors.recordings.ingest import IngestReport, ingest_recordings
    from shopfloor.connectors.recordings.layout import TableLayout
    from shopfloor.connectors.recordings.matlab import MatReader
    from shopfloor.connectors.recordings.numpy_files import NpyReader, NpzReader
    from shopfloor.connectors.recordings.parquet import ParquetReader
    from shopfloor.connectors.recordings.sources import SourceMap
    from shopfloor.connectors.recordings.timeparse import TIME_FORMATS, parse_numbers, parse_times
    from shopfloor.connectors.recordings.wav import WavReader
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.connectors.recordings.arrayfile": ("ArrayFileReader",),
            "shopfloor.connectors.recordings.base": ("Chunk", "RecordingReader"),
            "shopfloor.connectors.recordings.blocks": ("BlockLayout",),
            "shopfloor.connectors.recordings.captures": (
                "CaptureLayout",
                "CaptureReader",
                "natural_key",
            ),
            "shopfloor.connectors.recordings.csv": ("CsvReader", "sniff_delimiter"),
            "shopfloor.connectors.recordings.formats": (
                "FORMAT_SUFFIXES",
                "FORMATS",
                "detect_format",
                "open_recording",
            ),
            "shopfloor.connectors.recordings.ingest": ("IngestReport", "ingest_recordings"),
            "shopfloor.connectors.recordings.layout": ("TableLayout",),
            "shopfloor.connectors.recordings.matlab": ("MatReader",),
            "shopfloor.connectors.recordings.numpy_files": ("NpyReader", "NpzReader"),
            "shopfloor.connectors.recordings.parquet": ("ParquetReader",),
            "shopfloor.connectors.recordings.sources": ("SourceMap",),
            "shopfloor.connectors.recordings.timeparse": (
                "TIME_FORMATS",
                "parse_numbers",
                "parse_times",
            ),
            "shopfloor.connectors.recordings.wav": ("WavReader",),
        },
    )

__all__ = [
    "FORMATS",
    "FORMAT_SUFFIXES",
    "TIME_FORMATS",
    "ArrayFileReader",
    "BlockLayout",
    "CaptureLayout",
    "CaptureReader",
    "Chunk",
    "CsvReader",
    "IngestReport",
    "MatReader",
    "NpyReader",
    "NpzReader",
    "ParquetReader",
    "RecordingReader",
    "SourceMap",
    "TableLayout",
    "WavReader",
    "detect_format",
    "ingest_recordings",
    "natural_key",
    "open_recording",
    "parse_numbers",
    "parse_times",
    "sniff_delimiter",
]
