"""Hypothesis: capture parsing and file-name times never crash; every bad input is a letter."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopfloor.connectors.recordings import open_recording
from shopfloor.connectors.recordings.captureparse import (
    CaptureError,
    parse_capture,
    time_from_name,
    time_of_day_ns,
)
from shopfloor.model import SignalRef

from .conftest import RIG, drain

ACC = SignalRef(RIG, "acc")
IMS = "%Y.%m.%d.%H.%M.%S"

T = TypeVar("T")


def outcome(call: Callable[[], T]) -> T | ValueError:
    """The result, or the ValueError (CaptureError is one) raised; anything else fails."""
    try:
        return call()
    except ValueError as err:
        return err


cells = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: f"{v:.4g}"),
    st.integers(-1000, 1000).map(str),
    st.sampled_from(["", " ", "abc", "1e", "--1", "nan", "1,5", '"2"', "\x00", "é"]),
)
rows = st.lists(st.lists(cells, min_size=1, max_size=5), max_size=12)
separators = st.sampled_from([",", ";", "\t", " "])
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_any_bytes_parse_or_raise_capture_error(data: bytes) -> None:
    table = outcome(lambda: parse_capture(data))
    if isinstance(table, ValueError):
        assert isinstance(table, CaptureError)
        assert table.reason
        assert table.line is None or table.line >= 1
        return
    assert table.values.ndim == 2 and table.values.shape[1] == len(table.names)
    assert table.values.shape[0] >= 1


@given(rows, separators, line_ends, st.booleans())
@settings(max_examples=300)
def test_tables_of_numbers_and_garbage(
    table: list[list[str]], sep: str, end: str, header: bool
) -> None:
    text = end.join(sep.join(row) for row in table)
    parsed = outcome(lambda: parse_capture(text.encode(), header=header))
    if isinstance(parsed, ValueError):
        assert isinstance(parsed, CaptureError)
        assert parsed.reason
        return
    # whatever parsed is a full rectangle of finite or NaN floats, one row per data line
    assert parsed.values.shape[1] == len(parsed.names)
    data_lines = [
        r for r in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if r.strip()
    ]
    assert parsed.values.shape[0] == len(data_lines) - (1 if header else 0)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)))
def test_name_times_round_trip(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    name = moment.strftime(IMS)
    expected = moment.replace(tzinfo=UTC)
    assert time_from_name(name, IMS, ZoneInfo("UTC")) == int(expected.timestamp()) * 10**9
    assert time_from_name(name + ".txt", IMS, ZoneInfo("UTC")) == int(expected.timestamp()) * 10**9


@given(
    st.text(max_size=40), st.sampled_from([IMS, "%Y%m%d_%H%M%S", "acc_%H%M%S.csv", "%s", "%Y%Y"])
)
@settings(max_examples=300)
def test_garbage_names_raise_value_error_only(name: str, fmt: str) -> None:
    ns = outcome(lambda: time_from_name(name, fmt, ZoneInfo("Europe/Berlin")))
    assert isinstance(ns, int) or (isinstance(ns, ValueError) and str(ns))


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=3, max_size=4))
def test_time_of_day_columns_validate_every_part(values: list[float]) -> None:
    try:
        ns = time_of_day_ns(values, ["1", "2", "3", "4"])
    except ValueError:
        return
    assert 0 <= ns < 86_400 * 10**9 + 10**9


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["2004.02.12.10.32.39", "2004.13.12.10.32.39", "x", "2010.01.01.00.00.00"]
            ),
            st.one_of(
                st.binary(max_size=80),
                rows.map(lambda t: "\n".join(",".join(r) for r in t).encode()),
            ),
        ),
        max_size=6,
    )
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_capture_is_stored_or_dead_lettered(files: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "captures"
        folder.mkdir()
        written = {}
        for i, (name, data) in enumerate(files):
            unique = f"{name}.{i}"  # the pattern may ignore the last suffix
            (folder / unique).write_bytes(data)
            written[unique] = data
        reader = open_recording(
            folder, columns={"1": ACC}, options={"rate_hz": 100, "name_time_format": IMS}
        )
        blocks, letters, n_rows = drain(reader)
    assert n_rows == len(written) == len(blocks) + len(letters)
    stored = {Path(b.provenance.address.split("#")[0]).name for b in blocks}
    rejected = {Path(d.detail["capture"]).name for d in letters}
    assert stored | rejected == set(written) and not stored & rejected
    for block in blocks:
        assert block.data.ndim == 1 and block.data.dtype == np.float64
