from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from shopfloor.model import (
    Asset,
    BearingGeometry,
    Provenance,
    Quality,
    ScalarBatch,
    ScalarSample,
    Signal,
    SignalKind,
    SignalRef,
    WaveformBlock,
    format_ns,
    parse_duration_s,
    parse_time,
    quality_from_status_codes,
    signal_from_topic,
    to_ns,
    topic_for,
    validate_asset_path,
)
from shopfloor.model.units import conversion_factor, validate_unit

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


@pytest.mark.parametrize(
    "path",
    [
        "acme/plant1/machining/line1/cell1",
        "acme/p/a/l/c/m/x",
        "acme/p/a/l/c/bad name",
        "acme/p/a/l/c/+",
        "acme/p/a/l/c/#",
        "",
        "acme//a/l/c/m",
        "-x/p/a/l/c/m",
    ],
)
def test_bad_asset_paths_are_refused_with_the_reason(path: str) -> None:
    with pytest.raises(ValueError, match=r"asset path|level"):
        validate_asset_path(path)


def test_asset_path_levels_and_signal_lookup() -> None:
    asset = Asset(path=ASSET, signals=[Signal(name="speed", unit="rpm")])
    assert asset.signal("speed").unit == "rpm"
    with pytest.raises(KeyError, match="known: speed"):
        asset.signal("nope")


def test_signal_validation_names_the_problem() -> None:
    with pytest.raises(ValidationError, match="unknown unit"):
        Signal(name="x", unit="furlongz")
    with pytest.raises(ValidationError, match="needs sample_rate_hz"):
        Signal(name="x", kind=SignalKind.WAVEFORM)
    with pytest.raises(ValidationError, match="only waveform"):
        Signal(name="x", channels=["a"])
    with pytest.raises(ValidationError, match="dtype"):
        Signal(name="x", dtype="complex128")
    with pytest.raises(ValidationError, match="low < high"):
        Signal(name="x", valid_range=(5, 1))
    assert (
        Signal(name="acc", kind="waveform", sample_rate_hz=100, channels=["x", "y"]).n_channels == 2
    )


def test_units() -> None:
    assert validate_unit("mm/s") == "mm/s"
    assert conversion_factor("g", "m/s**2") == pytest.approx(9.80665)
    assert conversion_factor("rpm", "Hz") == pytest.approx(1 / 60)
    with pytest.raises(ValueError, match="cannot convert"):
        conversion_factor("g", "degC")


def test_bearing_defect_orders_match_cwru_6205() -> None:
    bearing = BearingGeometry(
        n_elements=9, element_diameter_mm=0.3126 * 25.4, pitch_diameter_mm=1.537 * 25.4
    )
    assert bearing.bpfi_order == pytest.approx(5.4152, abs=1e-3)
    assert bearing.bpfo_order == pytest.approx(3.5848, abs=1e-3)
    assert 2 * bearing.bsf_order == pytest.approx(4.7135, abs=1e-3)
    assert bearing.ftf_order == pytest.approx(0.3983, abs=1e-3)


def test_signal_ref_and_topics() -> None:
    ref = SignalRef.parse(f"{ASSET}/spindle_speed")
    assert ref.asset == ASSET and ref.name == "spindle_speed"
    assert topic_for(ref) == f"shopfloor/v1/{ASSET}/spindle_speed"
    assert signal_from_topic(topic_for(ref)) == ref
    with pytest.raises(ValueError, match="not under"):
        signal_from_topic("other/topic")


def test_quality_from_opcua_status() -> None:
    assert Quality.from_status_code(0) is Quality.GOOD
    assert Quality.from_status_code(0x408F0000) is Quality.UNCERTAIN
    assert Quality.from_status_code(0x80340000) is Quality.BAD
    codes = np.array([0, 0x408F0000, 0x80340000, 0xC0000000], dtype=np.uint32)
    assert quality_from_status_codes(codes).tolist() == [0, 1, 2, 2]


def test_times() -> None:
    assert to_ns("2024-01-01T00:00:00Z") == 1704067200 * 10**9
    assert format_ns(1704067200 * 10**9 + 1) == "2024-01-01T00:00:00.000000001Z"
    assert parse_time("2024-01-01T06:00:00+02:00").hour == 4
    assert parse_duration_s("5min") == 300.0
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday-ish")
    from datetime import datetime

    with pytest.raises(ValueError, match="no time zone"):
        to_ns(datetime(2024, 1, 1))


def test_records() -> None:
    ref = SignalRef(ASSET, "speed")
    batch = ScalarBatch.of(ref, [1, 2, 3], [1.0, 2.0, 3.0], Provenance("t"))
    assert len(batch.take(np.array([True, False, True]))) == 2
    with pytest.raises(ValueError, match="shape"):
        ScalarBatch(
            ref,
            np.zeros(2, np.int64),
            np.zeros(3),
            np.zeros(2, np.uint8),
            np.zeros(2, np.uint32),
            np.zeros(2, np.int64),
            Provenance("t"),
        )
    samples = [ScalarSample(ref, i, float(i), Provenance("t")) for i in range(4)]
    (grouped,) = ScalarBatch.from_samples(samples)
    assert grouped.values.tolist() == [0.0, 1.0, 2.0, 3.0]
    block = WaveformBlock(ref, 0, 1000.0, np.zeros((1000, 2)), "g", Provenance("t"))
    assert block.duration_s == 1.0 and block.end_ns == 10**9
    assert block.times_ns()[-1] == 999 * 10**6
    with pytest.raises(ValueError, match="1-D or 2-D"):
        WaveformBlock(ref, 0, 1000.0, np.zeros((2, 2, 2)), "g", Provenance("t"))
    assert not math.isnan(block.sample_rate_hz)
