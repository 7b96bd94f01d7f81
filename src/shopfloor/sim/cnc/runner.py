"""Run the simulator in the foreground: READY line, summary, progress, clean exit.

Used by ``shopfloor sim cnc`` and ``python -m shopfloor.sim.cnc``. Once the server
listens, one machine-readable line goes to stdout, before anything else::

    READY opc.tcp://127.0.0.1:48401 namespace=urn:shopfloor:sim:cnc ns=2 pid=4711 ...

SIGINT (Ctrl-C) and SIGTERM stop the server cleanly; ``duration_s`` stops it after that
many wall-clock seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time

from rich.console import Console
from rich.table import Table

from shopfloor.model import format_ns
from shopfloor.sim.cnc.config import CncSimConfig
from shopfloor.sim.cnc.nodes import NODES
from shopfloor.sim.cnc.server import CncSimServer

__all__ = ["ready_line", "serve"]


def ready_line(sim: CncSimServer) -> str:
    """The machine-readable line printed when the server accepts connections."""
    gt = sim.ground_truth_path
    return (
        f"READY {sim.endpoint_url} namespace={sim.config.namespace_uri} "
        f"ns={sim.namespace_index} pid={os.getpid()} security={sim.config.security.value} "
        f"ground_truth={gt if gt is not None else '-'}"
    )


def _summary(console: Console, sim: CncSimServer) -> None:
    cfg = sim.config
    fault = cfg.fault
    truth = sim.model.ground_truth()["fault"]
    console.print(
        f"[bold]CNC simulator {cfg.machine_name}[/bold] on [cyan]{sim.endpoint_url}[/cyan]"
    )
    console.print(
        f"  seed {cfg.seed} · security {cfg.security.value} · accelerometer "
        f"{cfg.sample_rate_hz:g} Hz in {cfg.block_duration_s:g} s blocks · scalars "
        f"{cfg.scalar_rate_hz:g} Hz · time scale {cfg.time_scale:g}"
    )
    if fault.type.value == "none":
        console.print("  fault: none (healthy machine)")
    else:
        console.print(
            f"  fault: {fault.type.value} from {truth['onset_time']}, "
            f"{fault.growth.value} growth over {fault.growth_s:g} s "
            f"(defect order {truth['defect_order']:.3f})"
        )
    if sim.ground_truth_path is not None:
        console.print(f"  ground truth: {sim.ground_truth_path}")
    table = Table(title=f"{len(NODES)} nodes", show_edge=False, pad_edge=False)
    table.add_column("node id")
    table.add_column("type")
    table.add_column("unit")
    table.add_column("access")
    for spec in NODES:
        table.add_row(
            sim.node_id(spec.name),
            spec.data_type.value + ("[]" if spec.is_array else ""),
            spec.unit or "",
            "read/write" if spec.writable else "read",
        )
    console.print(table)


def _progress(console: Console, sim: CncSimServer) -> None:
    st = sim.status()
    fault = sim.config.fault.type.value
    severity = f" severity {st.fault_severity:.2f}" if fault != "none" else ""
    console.print(
        f"{format_ns(st.sim_time_ns)[:19]}Z {st.state:<11} {st.speed_rpm:7.0f} rpm · "
        f"blocks {st.blocks_published} (skipped {st.blocks_skipped}) · "
        f"fault {fault}{severity} · writes {st.writes}",
        highlight=False,
    )


async def serve(
    config: CncSimConfig,
    *,
    duration_s: float | None = None,
    progress_every_s: float = 10.0,
    quiet: bool = False,
    console: Console | None = None,
) -> None:
    """Run a :class:`CncSimServer` until ``duration_s`` passes or SIGINT/SIGTERM arrives."""
    out = console if console is not None else Console(highlight=False, soft_wrap=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    sim = CncSimServer(config)
    try:
        await sim.start()
        try:
            sys.stdout.write(ready_line(sim) + "\n")
            sys.stdout.flush()
            if not quiet:
                _summary(out, sim)
            deadline = None if duration_s is None else time.monotonic() + duration_s
            while not stop.is_set():
                wait = progress_every_s
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                if not quiet and not stop.is_set():
                    _progress(out, sim)
        finally:
            await sim.stop()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    if not quiet:
        out.print(
            f"stopped: {sim.blocks_published} blocks published, {len(sim.writes)} writes received"
        )
