from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopfloor.config.template import write_example_project

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "plant"
    write_example_project(folder)
    return folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
