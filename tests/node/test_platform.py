"""The running platform owns the store; other processes reach it through its API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shopfloor.api.server import api_server_factory
from shopfloor.config import load_project
from shopfloor.config.template import write_example_project
from shopfloor.errors import ConfigError
from shopfloor.model import Provenance, ScalarBatch, SignalRef, to_ns, topic_for
from shopfloor.node import Platform, read_lock

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopfloor.cli.main", *args, "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
async def test_cli_goes_through_the_running_platform(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    write_example_project(folder)
    project = load_project(folder)
    platform = Platform.from_project(project, api=api_server_factory(project, port=0))
    await platform.start()
    try:
        lock = read_lock(project.state_dir)
        assert lock is not None and lock.api_url == platform.api_url
        with pytest.raises(ConfigError, match="already runs"):
            await Platform.from_project(project, api=api_server_factory(project, port=0)).start()
        # live data through the bus into the store
        ref = SignalRef(ASSET, "spindle_speed")
        t0 = to_ns("2024-05-01T00:00:00Z")
        for i in range(10):
            await platform.bus.publish(
                topic_for(ref),
                ScalarBatch.of(ref, [t0 + i * 10**9], [1000.0 + i], Provenance("test")),
            )
        csv = tmp_path / "load.csv"
        csv.write_text("time,load\n2024-05-01T00:00:00Z,5\n2024-05-01T00:00:01Z,oops\n")
        import asyncio

        done = await asyncio.to_thread(
            cli, folder, "ingest", str(csv), "--asset", ASSET, "--signal", "spindle_load", "--json"
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["values_written"] == 1
        status = await asyncio.to_thread(cli, folder, "status", "--json")
        assert json.loads(status.stdout)["running"] is True
        for _ in range(100):
            if platform.sink.stats.report.written >= 10:
                break
            await asyncio.sleep(0.05)
        query = await asyncio.to_thread(
            cli, folder, "query", "--asset", ASSET, "--signal", "spindle_speed", "--json"
        )
        assert [r["value"] for r in json.loads(query.stdout)["rows"]] == [
            1000.0 + i for i in range(10)
        ]
        letters = await asyncio.to_thread(cli, folder, "dead-letters", "--json")
        assert json.loads(letters.stdout)["total"] == 1
    finally:
        await platform.stop()
    assert read_lock(project.state_dir) is None
    # the file is free again: the CLI opens it itself
    done = cli(folder, "signals", "--json")
    assert done.returncode == 0


@pytest.mark.slow
def test_run_with_duration_stops_by_itself(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    write_example_project(folder)
    done = cli(folder, "run", "--duration", "1", "--api-port", "0")
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout and "stopped" in done.stdout


@pytest.mark.slow
def test_run_accepts_a_duration_with_a_unit(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    write_example_project(folder)
    done = cli(folder, "run", "--duration", "1s", "--no-api")
    assert done.returncode == 0, done.stderr
    assert "stopping after 1 s" in done.stdout and "stopped" in done.stdout
    bad = cli(folder, "run", "--duration", "soon", "--no-api")
    assert bad.returncode == 2 and "'soon'" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_taken_port_exits_3_saying_what_to_do(tmp_path: Path, command: str) -> None:
    import os
    import socket

    folder = tmp_path / "plant"
    write_example_project(folder)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = cli(folder, command, "--port", str(port), "--duration", "5")
    assert done.returncode == 3, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert f"port {port} on 127.0.0.1 is in use (pid {os.getpid()}); set api.port or --port" in (
        message
    )
    assert "Traceback" not in done.stderr
