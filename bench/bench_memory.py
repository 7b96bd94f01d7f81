"""Peak memory of the running platform under the CNC simulator at 20x real time.

Run alone from the repository root::

    .venv/bin/python -m bench.bench_memory

Issue 17: "20x simulator load peaks at 4.6 GB RSS. Bound it (and report the peak in
``make bench``)". Two runs of the same length on loopback, each against a fresh
simulator (``shopfloor sim cnc --time-scale 20``, three 25,600-sample arrays and the
scalars of the spindle and the program, 20 simulated seconds per wall second):

* **ours**: ``shopfloor run`` of the example project of ``shopfloor init`` (its OPC UA
  connector pointed at the simulator's port, API off), in its own process: connector,
  engine, bus, store sink into DuckDB;
* **ours, small store memory**: the same with ``store.memory_limit: 256MB``, to tell
  DuckDB's buffer pool from the rest;
* **baseline**: a bare asyncua subscription to the same nodes whose handler only counts,
  in its own process.

The peak of each process (platform, client, and each simulator separately) is its
``VmHWM`` in ``/proc/PID/status``, sampled while it runs. ``ru_maxrss`` (``os.wait4``,
``RUSAGE_CHILDREN``) is no use here: Linux carries the parent's high-water mark into a
child started by vfork + exec, so every child would report at least the benchmark
process's own peak. Both processes are stopped by their pid: the
platform stops by itself (``--duration``), the simulator with SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Measurement, Section, status_kb
from shopfloor.config.template import EXAMPLE_PROJECT

TIME_SCALE = 20.0
RUN_S = float(os.environ.get("SHOPFLOOR_BENCH_MEMORY_S", "60"))
SAMPLE_S = 0.2
GOAL_MB = 1024.0
"""The bound: issue 17 gives none, only the 4.6 GB it measured; 1 GB is a quarter of it."""
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

STORE_LINE = "  path: .shopfloor/store.duckdb"
"""The store line of the example project, after which ``memory_limit`` goes."""
SMALL_MEMORY_LIMIT = "256MB"

CLI = [sys.executable, "-m", "shopfloor.cli.main"]
NODE_IDS = sorted(set(re.findall(r"ns=2;s=CNC01\.[\w.]+", EXAMPLE_PROJECT)))
"""The nodes the example project reads: the bare client subscribes to the same."""

_BARE_CLIENT = """
import asyncio, sys
from asyncua import Client

class Counter:
    values = 0
    def datachange_notification(self, node, val, data):
        self.values += 1

async def main(url, nodes, seconds):
    client = Client(url, timeout=10)
    await client.connect()
    try:
        counter = Counter()
        sub = await client.create_subscription(100, counter)
        await sub.subscribe_data_change(
            [client.get_node(n) for n in nodes], queuesize=100, sampling_interval=0
        )
        await asyncio.sleep(seconds)
    finally:
        await client.disconnect()
    print(f"values {counter.values}")

asyncio.run(main(sys.argv[1], sys.argv[2].split(","), float(sys.argv[3])))
"""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Watched:
    """A child process whose peak RSS is followed until it ends.

    Parameters
    ----------
    name : str
        What the process is, for error messages.
    command : list of str
        The command line.
    log : Path
        File that receives the process's stdout and stderr.
    """

    def __init__(self, name: str, command: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        self.peak_kb = 0
        self.rss_kb: list[tuple[float, int]] = []
        """(seconds since start, VmRSS) of every sample."""
        self.exit_code: int | None = None
        self.started = time.monotonic()
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def sample(self) -> bool:
        """Record the current peak; False once the process has ended (and was reaped)."""
        if self.exit_code is not None:
            return False
        hwm = status_kb(self.proc.pid, "VmHWM")
        if hwm is not None:
            self.peak_kb = max(self.peak_kb, hwm)
        rss = status_kb(self.proc.pid, "VmRSS")
        if rss is not None:
            self.rss_kb.append((time.monotonic() - self.started, rss))
        code = self.proc.poll()
        if code is None:
            return True
        self.exit_code = code
        return False

    def wait(self, timeout_s: float) -> int:
        """Sample until the process ends; SIGKILL it after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.sample():
            if time.monotonic() > deadline:
                self.proc.kill()
                deadline = time.monotonic() + 10
            time.sleep(SAMPLE_S)
        assert self.exit_code is not None
        return self.exit_code

    def stop(self) -> int:
        """SIGTERM, then wait (SIGKILL after ``STOP_TIMEOUT_S``)."""
        if self.exit_code is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(STOP_TIMEOUT_S)

    def tail(self) -> str:
        """The last lines of the process's output, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
        except OSError:
            return ""

    @property
    def peak_mb(self) -> float:
        """Peak RSS in MB."""
        return self.peak_kb / 1024

    def trajectory(self, every_s: float = 5.0) -> str:
        """VmRSS in MB at every ``every_s`` seconds of the run, e.g. ``5 s 310, 10 s 420``."""
        points = []
        mark = every_s
        for t, kb in self.rss_kb:
            if t >= mark:
                points.append(f"{mark:g} s {kb / 1024:,.0f}")
                mark += every_s
        return ", ".join(points) or "-"


def start_simulator(workdir: Path, tag: str, time_scale: float = TIME_SCALE) -> tuple[Watched, str]:
    """Start ``shopfloor sim cnc`` at ``time_scale``; return it and its endpoint URL."""
    port = free_port()
    sim = Watched(
        f"simulator ({tag})",
        [
            *CLI,
            *("sim", "cnc", "--port", str(port), "--time-scale", f"{time_scale:g}"),
            *("--quiet", "--pki-dir", str(workdir / f"pki-{tag}")),
        ],
        workdir / f"sim-{tag}.log",
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in sim.log.read_text(errors="replace").splitlines():
            if line.startswith("READY"):
                return sim, line.split()[1]
        if not sim.sample():
            break
        time.sleep(0.1)
    sim.stop()
    raise RuntimeError(
        f"simulator on port {port} did not print READY within {START_TIMEOUT_S:g} s "
        f"(exit code {sim.exit_code}):\n{sim.tail()}"
    )


def run_watched(client: Watched, sim: Watched) -> None:
    """Sample both processes until ``client`` ends (it stops by itself), then stop ``sim``."""
    try:
        code = client.wait(RUN_S + START_TIMEOUT_S)
        if code != 0:
            raise RuntimeError(f"{client.name} exited with code {code}:\n{client.tail()}")
    finally:
        if client.exit_code is None:
            client.stop()
        sim.stop()


def measure_platform(workdir: Path, memory_limit: str | None = None) -> tuple[Watched, Watched]:
    """``shopfloor run`` of the example project against a fresh simulator.

    ``memory_limit`` sets the project's ``store.memory_limit`` (DuckDB's); the project's
    folder, log and simulator are named after it.
    """
    tag = f"platform-{memory_limit or 'default'}"
    sim, url = start_simulator(workdir, tag)
    try:
        folder = workdir / tag
        subprocess.run([*CLI, "init", str(folder)], check=True, capture_output=True, timeout=120)
        project = folder / "factory.yaml"
        text = project.read_text()
        for needle in ("opc.tcp://127.0.0.1:4840", STORE_LINE):
            if needle not in text:
                raise RuntimeError(f"{project}: the example project has no {needle!r}")
        text = text.replace("opc.tcp://127.0.0.1:4840", url)
        if memory_limit:
            text = text.replace(STORE_LINE, f"{STORE_LINE}\n  memory_limit: {memory_limit}")
        project.write_text(text)
        platform = Watched(
            f"shopfloor run ({tag})",
            [*CLI, "run", "-p", str(folder), "--no-api", "--duration", f"{RUN_S:g}s"],
            workdir / f"{tag}.log",
        )
    except BaseException:
        sim.stop()
        raise
    run_watched(platform, sim)
    return platform, sim


def measure_bare(workdir: Path) -> tuple[Watched, Watched]:
    """A bare asyncua subscription to the same nodes against a fresh simulator."""
    sim, url = start_simulator(workdir, "bare")
    try:
        client = Watched(
            "bare asyncua client",
            [sys.executable, "-c", _BARE_CLIENT, url, ",".join(NODE_IDS), f"{RUN_S:g}"],
            workdir / "bare.log",
        )
    except BaseException:
        sim.stop()
        raise
    run_watched(client, sim)
    return client, sim


def store_mb(platform: Watched) -> float:
    """Size of the platform's store folder in MB (data written during the run)."""
    folder = platform.log.with_suffix("") / ".shopfloor"
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024 / 1024


def summary(platform: Watched) -> str:
    """The platform's ``stopped: ...`` line, its store's size and its RSS over time."""
    line = next(
        (
            line.strip()
            for line in platform.log.read_text(errors="replace").splitlines()
            if line.startswith("stopped:")
        ),
        "(no summary line)",
    )
    return (
        f"{line}; store folder {store_mb(platform):,.0f} MB after the run; RSS over the "
        f"process's life (MB): {platform.trajectory()}"
    )


def run() -> Section:
    """Measure the peak RSS of the platform and of the simulator at 20x real time."""
    with tempfile.TemporaryDirectory(prefix="shopfloor-bench-memory-") as tmp:
        workdir = Path(tmp)
        bare, bare_sim = measure_bare(workdir)
        platform, platform_sim = measure_platform(workdir)
        limited, _ = measure_platform(workdir, SMALL_MEMORY_LIMIT)
        notes = [
            f"platform: {summary(platform)}",
            f"platform with store.memory_limit {SMALL_MEMORY_LIMIT}: {summary(limited)}",
        ]
    section = Section(
        title="Memory under the CNC simulator at 20x real time",
        description=(
            f"`shopfloor run` of the example project (`shopfloor init`, its OPC UA connector "
            f"pointed at the simulator on loopback, API off) for {RUN_S:g} s against "
            f"`shopfloor sim cnc --time-scale {TIME_SCALE:g}` (three 25,600-sample arrays "
            f"and {len(NODE_IDS) - 3} scalars, 20 simulated seconds per second). Baseline: "
            "a bare asyncua subscription to the same nodes, whose handler only counts, "
            "against its own fresh simulator for as long. The platform runs twice: as "
            f"written by `init`, and with `store.memory_limit: {SMALL_MEMORY_LIMIT}` "
            "(DuckDB's buffer pool). Peak RSS of each process separately (VmHWM sampled "
            f"every {SAMPLE_S:g} s)."
        ),
    )
    section.measurements += [
        Measurement(
            "peak RSS, platform process",
            platform.peak_mb,
            "MB",
            bare.peak_mb,
            "bare asyncua client",
            higher_is_better=False,
            goal=f"<= {GOAL_MB:,.0f} MB (issue 17: 4.6 GB)",
            goal_max=GOAL_MB,
        ),
        Measurement(
            f"peak RSS, platform process, store.memory_limit {SMALL_MEMORY_LIMIT}",
            limited.peak_mb,
            "MB",
            bare.peak_mb,
            "bare asyncua client",
            higher_is_better=False,
            goal=f"<= {GOAL_MB:,.0f} MB",
            goal_max=GOAL_MB,
        ),
        Measurement(
            "peak RSS, simulator serving the platform",
            platform_sim.peak_mb,
            "MB",
            bare_sim.peak_mb,
            "simulator serving the bare client",
            higher_is_better=False,
        ),
    ]
    section.notes += [
        *notes,
        f"The platform process lives longer than its --duration of {RUN_S:g} s: start-up "
        "(imports, store open) comes before and the final flush after.",
        "The example project's pipeline is not fitted in a fresh project, so it does not "
        "start: the figure is the platform's ingest path (connector, engine, bus, store "
        "sink, DuckDB).",
        f"The goal is ours: issue 17 asks to bound the peak without a number; {GOAL_MB:,.0f} "
        "MB is a quarter of what it measured.",
        "Other people's work ran on the same 2 cores during the run; memory figures move "
        "with it less than times do, but a slower consumer holds more in flight.",
        "What bounds it: a bus queue holds at most bus.queue_size records and "
        "bus.queue_bytes (64 MiB) of them, an acknowledged record is released at once, a "
        "store write holds at most bus.store_batch_bytes (16 MiB), and DuckDB does not "
        "vacuum at checkpoints (merging row groups read every waveform BLOB back: 4.6 GB "
        "before). The RSS trajectory above should be flat after start-up.",
    ]
    return section


if __name__ == "__main__":
    for m in run().measurements:
        print(f"{m.name}: {m.ours:.0f} {m.unit} (baseline {m.baseline})")
