"""Helpers for recording tests: a temporary project, the CLI, and reading the store back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.config import find_project, load_project
from shopfloor.config.template import write_example_project
from shopfloor.connectors.recordings import RecordingReader
from shopfloor.model import DeadLetter, SignalRef, WaveformBlock
from shopfloor.node import open_project_store

RIG = "acme/plant1/test/rig1/cell1/rig-01"
"""Asset of the synthetic recordings."""

RIG_SIGNALS = f"""\
  - path: {RIG}
    signals:
      - {{name: temp, kind: scalar, unit: degC}}
      - {{name: acc, kind: waveform, unit: g, sample_rate_hz: 1000}}
      - {{name: acc2, kind: waveform, unit: g, sample_rate_hz: 1000, channels: [x, y]}}
      - {{name: acc3, kind: waveform, unit: g, sample_rate_hz: 1000, channels: [x, y, z]}}
"""


def add_assets(project: Path, assets_yaml: str) -> None:
    """Add asset entries (YAML list items under ``assets:``) to a project's factory.yaml."""
    path = project / "factory.yaml"
    text = path.read_text()
    assert "\nassets:\n" in text
    path.write_text(text.replace("\nassets:\n", "\nassets:\n" + assets_yaml.rstrip("\n") + "\n", 1))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example project with the synthetic rig's waveform signals added."""
    folder = tmp_path / "plant"
    write_example_project(folder)
    add_assets(folder, RIG_SIGNALS)
    return folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    """Run the CLI; return exit code and output (stdout and stderr)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def ingest_json(runner: CliRunner, project: Path, *args: str) -> dict[str, Any]:
    """Run ``shopfloor ingest ... --json`` and return its report (asserting success)."""
    code, out = invoke(runner, "ingest", *args, "-p", str(project), "--json")
    assert code == 0, out
    report: dict[str, Any] = json.loads(out)
    return report


def read_blocks(project: Path, asset: str, name: str) -> list[WaveformBlock]:
    """Every stored block of a signal, oldest first."""

    async def read() -> list[WaveformBlock]:
        store = await open_project_store(load_project(find_project(project)))
        try:
            return await store.read_waveforms(SignalRef(asset, name), 0, 2**62)
        finally:
            await store.close()

    return asyncio.run(read())


def read_dead_letters(project: Path) -> list[DeadLetter]:
    """Every dead letter of the project's store."""

    async def read() -> list[DeadLetter]:
        store = await open_project_store(load_project(find_project(project)))
        try:
            return await store.read_dead_letters(limit=100_000)
        finally:
            await store.close()

    return asyncio.run(read())


def drain(reader: RecordingReader) -> tuple[list[WaveformBlock], list[DeadLetter], int]:
    """Read a recording fully: its blocks, dead letters and rows."""
    blocks: list[WaveformBlock] = []
    letters: list[DeadLetter] = []
    rows = 0
    for chunk in reader.chunks():
        blocks.extend(r for r in chunk.records if isinstance(r, WaveformBlock))
        letters.extend(chunk.rejected)
        rows += chunk.rows
        assert not chunk.scalars
    return blocks, letters, rows


def by_signal(blocks: Iterable[WaveformBlock], name: str) -> list[WaveformBlock]:
    return [b for b in blocks if b.signal.name == name]


def read_scalars(
    project: Path, asset: str, name: str, start_ns: int, end_ns: int
) -> tuple[Any, Any]:
    """Timestamps (int64 ns) and values of a scalar signal in ``[start_ns, end_ns)``."""
    import numpy as np
    import pyarrow as pa

    async def read() -> Any:
        store = await open_project_store(load_project(find_project(project)))
        try:
            return await store.read_scalars(SignalRef(asset, name), start_ns, end_ns)
        finally:
            await store.close()

    table = asyncio.run(read())
    ts = np.asarray(table.column("ts").cast(pa.int64()).to_numpy())
    return ts, np.asarray(table.column("value").to_numpy())
