"""Recording options are pydantic models, checked by the format and by ``shopfloor validate``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shopfloor.config import load_project
from shopfloor.connectors.recordings.options import (
    FORMAT_OPTIONS,
    BlockOptions,
    CaptureOptions,
    read_options,
)
from shopfloor.errors import ConfigError

START = "2024-01-01T00:00:00Z"


def test_options_arrive_as_text_and_become_typed_values() -> None:
    opts = read_options(
        "captures",
        {
            "rate_hz": "20000",
            "time_columns": "1, 2,3",
            "date": "2011-01-01",
            "header": "yes",
            "rows": 4.0,
            "timezone": None,  # None counts as not given
        },
        CaptureOptions,
    )
    assert opts.rate_hz == 20000.0 and opts.time_columns == ("1", "2", "3")
    assert opts.date == date(2011, 1, 1) and opts.header is True and opts.rows == 4
    assert opts.timezone == "UTC"


def test_every_problem_is_named_at_once_with_a_close_name() -> None:
    with pytest.raises(ConfigError) as info:
        read_options("wav", {"start": START, "blok_s": 2, "scale": 0, "rate_hz": "fast"})
    message = str(info.value)
    assert "unknown option(s) for a wav recording: blok_s (did you mean 'block_s'?)" in message
    assert "wav option 'scale' must be a non-zero number, got 0" in message
    assert "wav option 'rate_hz' must be a number > 0, got 'fast'" in message


def test_every_format_has_an_options_model() -> None:
    from shopfloor.connectors.recordings.formats import FORMATS

    assert set(FORMATS) == set(FORMAT_OPTIONS)
    assert FORMAT_OPTIONS["npy"] is BlockOptions


def test_validate_checks_a_replay_connectors_recording_options(tmp_path: Path) -> None:
    text = f"""\
project: {{name: x}}
connectors:
  - name: mill
    type: replay
    path: mill.csv.gz
    options:
      start: "{START}"
      rate_hz: -3
      time_colum: t
"""
    (tmp_path / "factory.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    issues = info.value.issues
    assert len(issues) == 2, issues
    assert (
        "factory.yaml:8: connectors[0].options.rate_hz: must be a number > 0, got -3" in (issues[0])
    )
    assert (
        "factory.yaml:9: connectors[0].options.time_colum: unknown field 'time_colum' "
        "(did you mean 'time_column'?)"
    ) in issues[1]
