"""Look into the store from the CLI: events, filters, order, quality, clear refusals."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.config import find_project, load_project
from shopfloor.model import DeadLetter, EventRecord, Provenance, SignalRef, to_ns
from shopfloor.node import open_project_store

from .conftest import ASSET
from .test_ingest import invoke, make_csv

OTHER = "acme/plant1/machining/line1/cell2/cnc-02"


def _store_records(project: Path) -> None:
    async def main() -> None:
        proj = load_project(find_project(project))
        store = await open_project_store(proj)
        try:
            prov = Provenance("test")
            await store.write(
                [
                    EventRecord(
                        SignalRef(ASSET, "program"),
                        to_ns("2024-05-01T00:00:00Z"),
                        "program_change",
                        prov,
                        message="O1000",
                    ),
                    EventRecord(
                        SignalRef(ASSET, "program"),
                        to_ns("2024-05-01T00:10:00Z"),
                        "gap",
                        prov,
                        message="no data for 60 s",
                    ),
                ]
            )
            await store.write_dead_letters(
                [
                    DeadLetter(
                        "opcua",
                        "ns=2;s=a",
                        "old",
                        received_ns=1,
                        detail={"signal": f"{ASSET}/spindle_speed"},
                    ),
                    DeadLetter(
                        "opcua",
                        "ns=2;s=b",
                        "new",
                        received_ns=2,
                        detail={"signal": f"{OTHER}/spindle_speed"},
                    ),
                ]
            )
        finally:
            await store.close()

    asyncio.run(main())


def test_events_with_filters_newest_first(project: Path, runner: CliRunner) -> None:
    _store_records(project)
    code, out = invoke(runner, "events", "-p", str(project), "--json")
    assert code == 0, out
    kinds = [e["kind"] for e in json.loads(out)["events"]]
    assert kinds == ["gap", "program_change"]
    code, out = invoke(
        runner, "events", "--kind", "gap", "--asset", ASSET, "-p", str(project), "--json"
    )
    assert [e["message"] for e in json.loads(out)["events"]] == ["no data for 60 s"]
    code, out = invoke(runner, "events", "--asset", OTHER, "-p", str(project), "--json")
    assert json.loads(out)["events"] == []
    code, out = invoke(runner, "events", "-p", str(project))
    assert code == 0 and "program_change" in out


def test_dead_letters_newest_first_and_filtered(project: Path, runner: CliRunner) -> None:
    _store_records(project)
    _, out = invoke(runner, "dead-letters", "-p", str(project), "--json")
    assert [d["reason"] for d in json.loads(out)["dead_letters"]] == ["new", "old"]
    _, out = invoke(runner, "dead-letters", "--asset", ASSET, "-p", str(project), "--json")
    result = json.loads(out)
    assert [d["reason"] for d in result["dead_letters"]] == ["old"] and result["total"] == 1
    _, out = invoke(runner, "dead-letters", "--limit", "1", "-p", str(project), "--json")
    assert [d["reason"] for d in json.loads(out)["dead_letters"]] == ["new"]


def test_signals_filtered_and_grouped_by_asset(project: Path, runner: CliRunner) -> None:
    code, out = invoke(runner, "signals", "--signal", "spindle_speed", "-p", str(project), "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["spindle_speed"]
    code, out = invoke(runner, "signals", "--asset", "acme/plant1", "-p", str(project))
    assert code == 0 and ASSET in out and "spindle_speed " in out


def test_query_quality_names_from_after_to_and_every_on_events(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    csv = tmp_path / "t.csv"
    make_csv(csv, 20)
    base = ["--asset", ASSET, "-p", str(project)]
    code, out = invoke(runner, "ingest", str(csv), "--signal", "spindle_temperature", *base)
    assert code == 0, out
    code, out = invoke(runner, "query", "--signal", "spindle_temperature", *base, "--json")
    assert {r["quality"] for r in json.loads(out)["rows"]} == {"good"}
    code, out = invoke(
        runner,
        "query",
        "--signal",
        "spindle_temperature",
        "--from",
        "2024-05-02",
        "--to",
        "2024-05-01",
        *base,
    )
    assert code == 2 and "--to" in out and "after --from" in out
    _store_records(project)
    code, out = invoke(runner, "query", "--signal", "program", "--every", "1min", *base)
    assert code == 2 and "event" in out and "--every" in out


@pytest.mark.parametrize("batch", [1, 256])
def test_query_every_on_a_waveform_downsamples_its_rms(
    project: Path, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    import shopfloor.services.query

    monkeypatch.setattr(shopfloor.services.query, "RMS_BATCH", batch)
    path = tmp_path / "x.npy"
    np.save(path, np.full((4000, 1), 2.0))
    base = ["--asset", ASSET, "-p", str(project)]
    code, out = invoke(
        runner,
        "ingest",
        str(path),
        "--signal",
        "vib",
        "--create",
        "--rate",
        "1000",
        "--start",
        "2024-05-01T00:00:00Z",
        *base,
    )
    assert code == 0, out
    code, out = invoke(runner, "query", "--signal", "vib", "--every", "2s", *base, "--json")
    assert code == 0, out
    rows = json.loads(out)["rows"]
    assert [r["count"] for r in rows] == [2, 2] and rows[0]["rms_mean"] == [2.0]


def test_unit_contradicting_a_declared_signal_is_refused(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    csv = tmp_path / "t.csv"
    make_csv(csv, 5)
    code, out = invoke(
        runner,
        "ingest",
        str(csv),
        "--asset",
        ASSET,
        "--signal",
        "spindle_temperature",
        "--unit",
        "degF",
        "-p",
        str(project),
    )
    assert code == 2 and "--unit 'degF'" in out and "not converted" in out


def test_strict_ingest_fails_when_rows_were_rejected(
    project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    csv = tmp_path / "t.csv"
    make_csv(csv, 200, corrupt_every=50)
    args = [
        "ingest",
        str(csv),
        "--asset",
        ASSET,
        "--signal",
        "spindle_temperature",
        "-p",
        str(project),
    ]
    code, out = invoke(runner, *args, "--strict")
    assert code == 1 and "--strict: 4 rejected" in out
    code, out = invoke(runner, *args)
    assert code == 0


def test_project_from_the_environment(
    project: Path, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["validate", "--json"], env={"SHOPFLOOR_PROJECT": str(project)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["file"] == str(project / "factory.yaml")


HEALTH = {
    "services": {
        "connectors": {"cnc": {"state": "connected", "reconnects": 2, "tags": ["a", "b"]}},
        "store_sink": {"written": 10, "rejected": 0},
    }
}


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"Internal Server Error")

    def log_message(self, *args: object) -> None:
        pass


class _Healthy(_Failing):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(HEALTH).encode())


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def failing_api() -> Iterator[str]:
    yield from _serve(_Failing)


@pytest.fixture
def healthy_api() -> Iterator[str]:
    yield from _serve(_Healthy)


def _lock(project: Path, api_url: str) -> None:
    state = project / ".shopfloor"
    state.mkdir(exist_ok=True)
    (state / "platform.json").write_text(
        json.dumps({"pid": os.getpid(), "api_url": api_url, "started_ns": 1})
    )


def test_status_prints_health_as_lines_not_dicts(
    project: Path, runner: CliRunner, healthy_api: str
) -> None:
    _lock(project, healthy_api)
    result = runner.invoke(app, ["status", "-p", str(project)])
    assert result.exit_code == 0, result.output
    assert "{" not in result.output and "[" not in result.output
    assert "state: connected" in result.output and "tags: a, b" in result.output
    assert "store_sink: written 10, rejected 0" in result.output


def test_status_when_the_platform_api_fails(
    project: Path, runner: CliRunner, failing_api: str
) -> None:
    _lock(project, failing_api)
    result = runner.invoke(app, ["status", "-p", str(project)])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "500" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
