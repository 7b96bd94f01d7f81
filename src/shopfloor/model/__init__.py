"""The vocabulary everything else speaks: assets, signals, records, units, time.

Pure data and validation; no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.model.alert import Alert, AlertChange, AlertState
    from shopfloor.model.annotation import Annotation, validate_label
    from shopfloor.model.asset import Asset, BearingGeometry
    from shopfloor.model.paths import ISA95_LEVELS, AssetPath, validate_asset_path, validate_segment
    from shopfloor.model.provenance import Provenance
    from shopfloor.model.quality import Quality, quality_from_status_codes
    from shopfloor.model.records import (
        IMAGE_ATTRIBUTES,
        DeadLetter,
        EventRecord,
        ImageRecord,
        Record,
        ScalarBatch,
        ScalarSample,
        WaveformBlock,
        record_count,
        record_nbytes,
    )
    from shopfloor.model.signal import Signal, SignalKind, SignalRef
    from shopfloor.model.timestamps import (
        NS_PER_S,
        format_ns,
        now_ns,
        parse_duration_s,
        parse_time,
        to_ns,
    )
    from shopfloor.model.uns import UNS_ROOT, signal_from_topic, topic_for
    from shopfloor.model.validation import (
        RecordValidator,
        Validation,
        ValidationLimits,
        WriteReport,
        validate_records,
    )
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.model.alert": ("Alert", "AlertChange", "AlertState"),
            "shopfloor.model.annotation": ("Annotation", "validate_label"),
            "shopfloor.model.asset": ("Asset", "BearingGeometry"),
            "shopfloor.model.paths": (
                "ISA95_LEVELS",
                "AssetPath",
                "validate_asset_path",
                "validate_segment",
            ),
            "shopfloor.model.provenance": ("Provenance",),
            "shopfloor.model.quality": ("Quality", "quality_from_status_codes"),
            "shopfloor.model.records": (
                "IMAGE_ATTRIBUTES",
                "DeadLetter",
                "EventRecord",
                "ImageRecord",
                "Record",
                "ScalarBatch",
                "ScalarSample",
                "WaveformBlock",
                "record_count",
                "record_nbytes",
            ),
            "shopfloor.model.signal": ("Signal", "SignalKind", "SignalRef"),
            "shopfloor.model.timestamps": (
                "NS_PER_S",
                "format_ns",
                "now_ns",
                "parse_duration_s",
                "parse_time",
                "to_ns",
            ),
            "shopfloor.model.uns": ("UNS_ROOT", "signal_from_topic", "topic_for"),
            "shopfloor.model.validation": (
                "RecordValidator",
                "Validation",
                "ValidationLimits",
                "WriteReport",
                "validate_records",
            ),
        },
    )

__all__ = [
    "IMAGE_ATTRIBUTES",
    "ISA95_LEVELS",
    "NS_PER_S",
    "UNS_ROOT",
    "Alert",
    "AlertChange",
    "AlertState",
    "Annotation",
    "Asset",
    "AssetPath",
    "BearingGeometry",
    "DeadLetter",
    "EventRecord",
    "ImageRecord",
    "Provenance",
    "Quality",
    "Record",
    "RecordValidator",
    "ScalarBatch",
    "ScalarSample",
    "Signal",
    "SignalKind",
    "SignalRef",
    "Validation",
    "ValidationLimits",
    "WaveformBlock",
    "WriteReport",
    "format_ns",
    "now_ns",
    "parse_duration_s",
    "parse_time",
    "quality_from_status_codes",
    "record_count",
    "record_nbytes",
    "signal_from_topic",
    "to_ns",
    "topic_for",
    "validate_asset_path",
    "validate_label",
    "validate_records",
    "validate_segment",
]
