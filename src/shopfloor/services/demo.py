"""The main job, end to end, on the embedded default (DuckDB, in-process bus).

A simulated CNC machining centre runs as a real OPC UA server; the platform connects to
it with its OPC UA connector, stores scalars and tri-axial vibration, learns the healthy
spindle from a baseline, then watches live data through the same pipeline while a
bearing fault grows, and raises an alarm. :func:`run_demo` does it and returns how well
it went (:class:`DemoResult`); a :class:`DemoReporter` hears about each step.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shopfloor.config import Project, find_project, load_project
from shopfloor.config.template import EXAMPLE_PROJECT
from shopfloor.model import NS_PER_S, EventRecord, SignalRef, format_ns
from shopfloor.node import ApiFactory, Platform
from shopfloor.node.pipelines import fitted_path, pipeline_service, project_pipeline
from shopfloor.node.services import project_services
from shopfloor.pipelines import fit_pipeline, pipeline_state, run_history, save_state
from shopfloor.services.options import DemoOptions

__all__ = ["ASSET", "PIPELINE", "DemoOptions", "DemoReporter", "DemoResult", "run_demo"]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
PIPELINE = "spindle-health"
THRESHOLD = 10.0
POLL_S = 0.5


class DemoReporter(Protocol):
    """What the demo tells as it runs (the CLI prints it; a test may just collect it)."""

    def step(self, text: str) -> None:
        """A step is done (one line)."""

    def phase(self, label: str, total_s: float) -> None:
        """A phase of ``total_s`` machine seconds begins."""

    def progress(self, done_s: float, info: str, *, alarm: bool = False) -> None:
        """Machine seconds done in the current phase, with a status line."""

    def phase_done(self) -> None:
        """The current phase ended."""


@dataclass
class DemoResult:
    """How the demo went: times in UTC nanoseconds, counts, and where the files are."""

    project: Project
    start_ns: int
    onset_ns: int
    baseline_end_ns: int
    alerts: list[EventRecord]
    rows: dict[str, int]
    letters: int
    connector: dict[str, Any]
    plot: Path | None
    ground_truth: Path
    false_alarms: list[EventRecord] = field(default_factory=list)
    true_alarms: list[EventRecord] = field(default_factory=list)

    def stored(self) -> str:
        """What the platform stored over OPC UA, and how its connector fared."""
        rows, connector = self.rows, self.connector
        return (
            f"5. stored over OPC UA: {rows['scalars']:,} scalar values, "
            f"{rows['waveforms']:,} vibration blocks ({rows['waveforms'] * 25600 * 3:,} "
            f"samples), {rows['events']:,} events; {self.letters} dead letters; "
            f"connector {connector['state']}, {connector['reconnects']} reconnects"
        )

    def summary(self, folder: Path, seconds: float) -> list[str]:
        """How well it went: onset, first alarm, false alarms, files; where to look next."""
        start_ns, onset_ns = self.start_ns, self.onset_ns
        healthy_s = (onset_ns - start_ns) / NS_PER_S
        lines = [
            f"fault onset (ground truth)   {format_ns(onset_ns)}  (machine time {healthy_s:.0f} s)"
        ]
        if self.true_alarms:
            first = self.true_alarms[0]
            lines.append(
                f"first alarm                  {format_ns(first.ts_ns)}  "
                f"{(first.ts_ns - onset_ns) / NS_PER_S:.0f} s after onset ({first.message})"
            )
        else:
            lines.append("first alarm                  none within the watch time")
        lines.append(
            f"false alarms before onset    {len(self.false_alarms)} "
            f"(over {healthy_s:.0f} s of healthy running)"
        )
        if self.plot is not None:
            lines.append(f"health trend                 {self.plot}")
        lines.append(f"ground truth                 {self.ground_truth}")
        lines.append(
            f"done in {seconds:.0f} s. Look around: shopfloor signals -p {folder}; "
            f"shopfloor query -p {folder} --asset {ASSET} "
            "--signal health.anomaly_score --every 10s"
        )
        return lines


def prepare_demo(options: DemoOptions) -> tuple[Project, int]:
    """Write the demo project (a fresh OPC UA port, any API port); return it and the port."""
    folder = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (folder / ".shopfloor", folder / "health_trend.png"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    port = _free_port()
    text = EXAMPLE_PROJECT.replace("opc.tcp://127.0.0.1:4840", f"opc.tcp://127.0.0.1:{port}")
    text = text.replace("  port: 8000", "  port: 0")
    (folder / "factory.yaml").write_text(text, encoding="utf-8")
    return load_project(find_project(folder)), port


async def run_demo(
    options: DemoOptions,
    project: Project,
    port: int,
    reporter: DemoReporter,
    api: ApiFactory | None = None,
) -> DemoResult:
    """Run the simulator and the platform, fit on the baseline, watch for the fault.

    ``api`` builds the platform's HTTP API (the caller's choice: services sit below it).

    Raises
    ------
    ShopfloorError
        When the simulator, the platform or the pipeline fails.
    """
    from shopfloor.sim.cnc import CncSimConfig, CncSimServer

    folder = options.folder
    onset_s = options.baseline_s + 20.0
    sim_config = CncSimConfig.model_validate(
        {
            "port": port,
            "time_scale": options.time_scale,
            "asset_path": ASSET,
            "fault": {"type": "outer_race", "onset": onset_s, "growth_s": 120.0},
            "ground_truth_path": str(folder / "ground_truth.json"),
            "pki_dir": str(folder / ".shopfloor" / "sim-pki"),
        }
    )
    sim = CncSimServer(sim_config)
    await sim.start()
    start_ns = sim.model.start_ns
    # connectors now; the pipeline joins once it has learned the baseline
    platform = Platform.from_project(
        project,
        api=api,
        services=project_services(project, pipelines=False),
    )
    try:
        await platform.start()
        reporter.step(
            f"1. simulated CNC on {sim.endpoint_url} ({options.time_scale:g}x real time, "
            f"outer-race fault from {onset_s:g} s); platform API {platform.api_url}"
        )
        accel = SignalRef(ASSET, "spindle_accel")
        reporter.phase("2. healthy baseline", options.baseline_s)
        while (sim.sim_time_ns() - start_ns) / NS_PER_S < options.baseline_s:
            blocks = await platform.store.count(accel)
            status = sim.status()
            reporter.progress(
                (status.sim_time_ns - start_ns) / NS_PER_S,
                f"{status.state:<11} {status.speed_rpm:7.0f} rpm, {blocks} vibration blocks stored",
            )
            await asyncio.sleep(POLL_S)
        reporter.progress(options.baseline_s, "")
        reporter.phase_done()
        baseline_end = start_ns + int(options.baseline_s * NS_PER_S)
        await asyncio.sleep(2.0)  # let the last baseline blocks reach the store
        pipeline, plan = project_pipeline(project, PIPELINE, load_fitted=False)
        fit_info = await fit_pipeline(platform.store, pipeline, start_ns, baseline_end)
        save_state(fitted_path(project, PIPELINE), pipeline_state(pipeline, fit_info))
        history = await run_history(platform.store, pipeline, plan, start_ns, baseline_end)
        reporter.step(
            f"3. fitted {PIPELINE!r} (hash {pipeline.spec_hash[:12]}) on "
            f"{fit_info['windows']} cutting windows, regimes {fit_info['regimes']}; "
            f"scored the baseline: {history.windows} windows, "
            f"{history.alerts} alarms"
        )
        service = pipeline_service(project, PIPELINE, platform)
        await service.start()
        platform.services.append(service)
        # what arrived while fitting: the same pipeline over the stored history (the
        # live one takes over from here; both give the same values where they meet)
        await run_history(platform.store, pipeline, plan, baseline_end, sim.sim_time_ns())
        await _watch(options, platform, sim, start_ns, baseline_end, reporter)
        await asyncio.sleep(1.0)
        health = await platform.status()
        stats = await platform.store.stats()
        end_ns = sim.sim_time_ns()
        scores = await platform.store.read_scalars(
            SignalRef(ASSET, "health.anomaly_score"), start_ns, end_ns
        )
        snr = await platform.store.read_scalars(
            SignalRef(ASSET, "health.envelope.bpfo.snr.x"), start_ns, end_ns
        )
        alerts = await platform.store.read_events(start_ns, end_ns + NS_PER_S, kind="alert_raised")
        letters = await platform.store.count_dead_letters()
        onset = sim.model.onset_ns
        onset_ns = onset if onset is not None else start_ns + int(onset_s * NS_PER_S)
    finally:
        await platform.stop()
        await sim.stop()
    true_alarms = [a for a in alerts if a.ts_ns >= onset_ns]
    plot = await asyncio.to_thread(
        _plot_trend,
        folder / "health_trend.png",
        scores,
        snr,
        start_ns,
        onset_ns,
        true_alarms[0].ts_ns if true_alarms else None,
        baseline_end,
    )
    return DemoResult(
        project=project,
        start_ns=start_ns,
        onset_ns=onset_ns,
        baseline_end_ns=baseline_end,
        alerts=alerts,
        rows=dict(stats.rows),
        letters=letters,
        connector=dict(health["services"]["connectors"]["cnc"]),
        plot=plot,
        ground_truth=folder / "ground_truth.json",
        false_alarms=[a for a in alerts if a.ts_ns < onset_ns],
        true_alarms=true_alarms,
    )


async def _watch(
    options: DemoOptions,
    platform: Platform,
    sim: Any,
    start_ns: int,
    baseline_end: int,
    reporter: DemoReporter,
) -> None:
    """Watch live scores until the watch time ends, or 30 s after the first alarm."""
    alert_ns = None
    reporter.phase("4. watching live", options.watch_s)
    end_s = options.baseline_s + options.watch_s
    while (sim.sim_time_ns() - start_ns) / NS_PER_S < end_s:
        status = sim.status()
        events = await platform.store.read_events(
            baseline_end, status.sim_time_ns + NS_PER_S, kind="alert_raised"
        )
        scores = await platform.store.read_scalars(
            SignalRef(ASSET, "health.anomaly_score"),
            status.sim_time_ns - 30 * NS_PER_S,
            status.sim_time_ns + NS_PER_S,
        )
        last = scores.column("value")[-1].as_py() if scores.num_rows else float("nan")
        reporter.progress(
            (status.sim_time_ns - start_ns) / NS_PER_S - options.baseline_s,
            f"fault severity {status.fault_severity:4.2f}, score {last:6.1f}",
            alarm=bool(events),
        )
        if events and alert_ns is None:
            alert_ns = events[0].ts_ns
            watch_until = status.sim_time_ns + 30 * NS_PER_S
            end_s = min(end_s, (watch_until - start_ns) / NS_PER_S)
        await asyncio.sleep(POLL_S)
    reporter.progress(options.watch_s, "")
    reporter.phase_done()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plot_trend(
    path: Path,
    scores: Any,
    snr_table: Any,
    start_ns: int,
    onset_ns: int,
    alert_ns: int | None,
    baseline_end_ns: int,
) -> Path | None:
    """Score and BPFO envelope SNR over machine time; ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import numpy as np

    t_s = (scores.column("ts").cast("int64").to_numpy() - start_ns) / 1e9
    score = scores.column("value").to_numpy()
    snr_t = (snr_table.column("ts").cast("int64").to_numpy() - start_ns) / 1e9
    snr = np.interp(t_s, snr_t, snr_table.column("value").to_numpy()) if snr_t.size else score
    onset_s = (onset_ns - start_ns) / 1e9
    baseline_end_s = (baseline_end_ns - start_ns) / 1e9
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    ax1.plot(t_s / 60, score, ".", ms=3, color="tab:blue", label="anomaly score (max |z|)")
    ax1.axhline(THRESHOLD, color="tab:red", lw=1, ls="--", label=f"alarm threshold {THRESHOLD:g}")
    ax2.plot(t_s / 60, snr, ".", ms=3, color="tab:purple")
    for ax in (ax1, ax2):
        ax.axvspan(0, baseline_end_s / 60, color="tab:green", alpha=0.08)
        ax.axvline(onset_s / 60, color="black", lw=1, ls=":")
        if alert_ns is not None:
            ax.axvline((alert_ns - start_ns) / 1e9 / 60, color="tab:red", lw=1.2)
    ax1.set_yscale("symlog", linthresh=10)
    ax1.set_ylabel("score")
    ax1.legend(loc="upper left", fontsize=8)
    ax1.set_title(
        "CNC spindle health: baseline (green), fault onset (dotted), alarm (red)", fontsize=10
    )
    ax2.set_ylabel("BPFO envelope SNR, x")
    ax2.set_xlabel("machine time since start (min)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
