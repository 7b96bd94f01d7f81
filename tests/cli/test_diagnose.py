"""``shopfloor diagnose``: the JSON contract, exit codes, errors naming the input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app
from tests.features.test_diagnosis import BEARING, CASES, bearing_signal

GEOMETRY = ["--bearing-elements", "9", "--element-diameter-mm", "7.94"]
GEOMETRY += ["--pitch-diameter-mm", "39.04"]
"""The CWRU drive-end bearing (6205), also used by the synthetic recording."""


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    order, mod = CASES["outer_race"]
    path = tmp_path / "rec.npz"
    np.savez(path, X001_DE_time=bearing_signal(12000.0, order, mod, 0.3), other=np.zeros(10))
    return path


def run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def diagnose(
    path: Path, *extra: str, channel: str = "*_DE_time", rate: str = "12000", rpm: str = "1800"
) -> tuple[int, str, str]:
    """``shopfloor diagnose PATH --channel --rate --rpm EXTRA...``."""
    return run(["diagnose", str(path), "--channel", channel, "--rate", rate, "--rpm", rpm, *extra])


def test_json_shape(recording: Path, tmp_path: Path) -> None:
    png = tmp_path / "es.png"
    code, out, _ = diagnose(recording, *GEOMETRY, "--json", "--plot", str(png))
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"verdict", "confidence", "candidates", "band_hz"}
    assert data["verdict"] == "outer_race"
    assert set(data["candidates"]) == {"outer_race", "inner_race", "ball", "cage"}
    assert len(data["band_hz"]) == 2
    assert png.stat().st_size > 0
    assert BEARING.n_elements == 9


def test_table_output(recording: Path) -> None:
    code, out, _ = diagnose(recording, *GEOMETRY)
    assert code == 0
    assert "outer_race" in out and "band" in out


def test_channel_not_in_file(recording: Path) -> None:
    code, _, err = diagnose(recording, *GEOMETRY, channel="*_FE_time")
    assert code == 2
    assert "*_FE_time" in err


def test_missing_geometry(recording: Path) -> None:
    code, _, err = diagnose(recording)
    assert code == 2
    assert "--bearing-elements" in err


def test_partial_geometry(recording: Path) -> None:
    code, _, err = diagnose(recording, "--bearing-elements", "9")
    assert code == 2
    assert "--pitch-diameter-mm" in err


def test_bad_option(recording: Path) -> None:
    code, _, _ = run(["diagnose", str(recording), "--rpm", "fast"])
    assert code == 2
    code, _, err = diagnose(recording, *GEOMETRY, rpm="-5")
    assert code == 2
    assert "--rpm" in err


def test_no_such_file(tmp_path: Path) -> None:
    code, _, err = diagnose(tmp_path / "nope.mat", *GEOMETRY, channel="x")
    assert code == 2
    assert "nope.mat" in err


def test_cwru_records(shared_data: Path) -> None:
    """An inner-race record is diagnosed as such; the normal record gets no fault verdict."""
    cwru = shared_data / "cwru"
    code, out, _ = diagnose(cwru / "12k_Drive_End_IR007_0_105.mat", *GEOMETRY, "--json", rpm="1797")
    assert code == 0
    assert json.loads(out)["verdict"] == "inner_race"
    code, out, _ = diagnose(cwru / "normal_0_97.mat", *GEOMETRY, "--json", rate="48000", rpm="1796")
    assert code == 0
    assert json.loads(out)["verdict"] == "none"


def test_rate_too_low_for_the_bearing(recording: Path) -> None:
    """No envelope band fits above the defect lines and below 0.4 x rate: exit 2."""
    code, _, err = diagnose(recording, *GEOMETRY, rate="2000")
    assert code == 2
    assert "sample_rate_hz=2000" in err
