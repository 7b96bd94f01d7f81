"""`shopfloor ingest` through a running platform when one side is killed.

The platform (`shopfloor run`) and the ingest run as separate processes on loopback, as
a user runs them. (a) The platform is killed (SIGKILL) mid-ingest: the ingest must end
with a non-zero status and an error that names the API and how many rows it wrote,
never hang. (b) The ingest itself is killed mid-way and run again on the restarted
platform: every row of the file is stored exactly once and no conflict is dead-lettered
(the store takes identical data again as duplicates).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

from shopfloor.node.lock import read_lock, read_token

from .env import ASSET

pytestmark = [pytest.mark.slow, pytest.mark.integration]

N = 3_000_000
SIGNAL = "temperature"
START_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 60.0


def write_csv(path: Path, n: int) -> None:
    """``n`` rows one millisecond apart, values ``0, 1, 2, ...`` (so a row is its value)."""
    start = np.datetime64("2024-01-01T00:00:00", "ms")
    with path.open("w") as f:
        f.write("timestamp,value\n")
        for i in range(0, n, 500_000):
            k = min(500_000, n - i)
            ts = (start + np.arange(i, i + k).astype("timedelta64[ms]")).astype(str)
            values = np.arange(i, i + k).astype(str)
            f.write("\n".join(np.char.add(np.char.add(ts, "Z,"), values)) + "\n")


def write_project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "factory.yaml").write_text(
        f"""
project: {{name: ingest-kill}}
api: {{host: 127.0.0.1, port: 0}}
store: {{path: .shopfloor/store.duckdb}}
assets:
  - path: {ASSET}
    signals:
      - {{name: {SIGNAL}, unit: degC}}
"""
    )
    return folder


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "shopfloor.cli.main", *args]


def env() -> dict[str, str]:
    return {**os.environ, "CI": "true", "NO_COLOR": "1", "COLUMNS": "200"}


class Platform:
    """`shopfloor run` of a project as a child process."""

    def __init__(self, project: Path, log: Path) -> None:
        self.project = project
        self.state_dir = project / ".shopfloor"
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            cli("run", "-p", str(project)),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env(),
        )
        self.url = self._wait_for_api()
        self.client = httpx.Client(
            base_url=self.url,
            timeout=30.0,
            headers={"authorization": f"Bearer {read_token(self.state_dir)}"},
        )

    def _wait_for_api(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the platform exited with {self.process.returncode}")
            lock = read_lock(self.state_dir)
            if lock is not None and lock.pid == self.process.pid and lock.api_url:
                try:
                    if httpx.get(f"{lock.api_url}/healthz", timeout=2.0).status_code == 200:
                        return lock.api_url
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"the platform's API did not come up in {START_TIMEOUT_S} s")

    def count(self) -> int:
        body = self.client.get("/api/v1/count", params={"signal": f"{ASSET}/{SIGNAL}"}).json()
        return int(body["count"])

    def values(self) -> np.ndarray[Any, Any]:
        response = self.client.get(
            "/api/v1/scalars",
            params={"signal": f"{ASSET}/{SIGNAL}", "start_ns": 0, "end_ns": 2**62},
            headers={"accept": "application/vnd.apache.arrow.stream"},
        )
        table = pa.ipc.open_stream(pa.py_buffer(response.content)).read_all()
        return np.asarray(table.column("value").to_numpy())

    def dead_letters(self) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = self.client.get(
            "/api/v1/dead-letters", params={"limit": 100_000}
        ).json()
        return letters

    def kill(self) -> None:
        """SIGKILL, and reap the process so that its lock reads as stale."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=EXIT_TIMEOUT_S)
        self._log.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "plant")


@pytest.fixture
def big_csv(tmp_path: Path) -> Path:
    path = tmp_path / "BIG.csv"
    write_csv(path, N)
    return path


@pytest.fixture
def platforms(project: Path, tmp_path: Path) -> Iterator[list[Platform]]:
    """The platforms a test starts; every one still running is killed at the end."""
    started: list[Platform] = []
    yield started
    for platform in started:
        if platform.process.poll() is None:
            platform.kill()


def start_ingest(project: Path, csv: Path, out: Path) -> subprocess.Popen[bytes]:
    args = ("ingest", str(csv), "--asset", ASSET, "--signal", SIGNAL, "-p", str(project))
    with out.open("wb") as f:
        return subprocess.Popen(cli(*args, "--json"), stdout=f, stderr=subprocess.STDOUT, env=env())


def wait_for_rows(platform: Platform, ingest: subprocess.Popen[bytes], above: int) -> int:
    """Wait until the store holds more than ``above`` rows while ``ingest`` still runs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert ingest.poll() is None, "the ingest ended before it could be interrupted"
        count = platform.count()
        if count > above:
            return count
        time.sleep(0.05)
    raise AssertionError(f"no rows beyond {above} stored in {START_TIMEOUT_S} s")


def test_platform_killed_mid_ingest_then_ingest_killed_and_repeated(
    project: Path, big_csv: Path, platforms: list[Platform], tmp_path: Path
) -> None:
    log = tmp_path / "platform.log"
    # (a) the platform dies under the ingest: the ingest fails fast and says how far it got
    platform = Platform(project, log)
    platforms.append(platform)
    ingest = start_ingest(project, big_csv, tmp_path / "ingest-a.out")
    wait_for_rows(platform, ingest, 0)
    url = platform.url
    platform.kill()
    try:
        status = ingest.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        ingest.kill()
        ingest.wait()
        pytest.fail(f"the ingest still ran {EXIT_TIMEOUT_S} s after the platform was killed")
    message = " ".join((tmp_path / "ingest-a.out").read_text().split())
    assert status != 0, message
    assert url in message, message
    assert "stopped after" in message and "rows" in message, message

    # (b) on the restarted platform the ingest is killed mid-way, then run again
    platform = Platform(project, log)
    platforms.append(platform)
    before = platform.count()
    assert 0 < before < N
    ingest = start_ingest(project, big_csv, tmp_path / "ingest-b.out")
    wait_for_rows(platform, ingest, before)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait(timeout=EXIT_TIMEOUT_S)

    again = subprocess.run(
        cli(
            "ingest",
            str(big_csv),
            "--asset",
            ASSET,
            "--signal",
            SIGNAL,
            "-p",
            str(project),
            "--json",
        ),
        capture_output=True,
        text=True,
        env=env(),
        timeout=START_TIMEOUT_S + 300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["rows"] == N
    assert report["rows_rejected"] == 0
    assert report["values_written"] + report["duplicates"] == N
    assert report["duplicates"] > 0
    assert report["values_rejected"] == 0

    assert platform.count() == N
    values = platform.values()
    assert values.shape[0] == N
    assert np.array_equal(np.sort(values), np.arange(N, dtype=np.float64))
    conflicts = [
        d
        for d in platform.dead_letters()
        if (d.get("detail") or {}).get("category") == "conflict" or "conflict" in d["reason"]
    ]
    assert conflicts == []
