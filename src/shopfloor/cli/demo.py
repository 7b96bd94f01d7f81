"""``shopfloor demo``: the main job, on the embedded default (DuckDB, in-process bus).

A simulated CNC machining centre runs as a real OPC UA server; the platform connects to
it with its OPC UA connector, stores scalars and tri-axial vibration, learns the healthy
spindle from a baseline, then watches live data through the same pipeline while a
bearing fault grows, and raises an alarm. It says what it did and how well it did it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from shopfloor.api.server import api_server_factory
from shopfloor.cli.common import console, load, run_async
from shopfloor.config.template import EXAMPLE_PROJECT
from shopfloor.model import NS_PER_S, SignalRef, format_ns
from shopfloor.node import Platform
from shopfloor.node.pipelines import fitted_path, pipeline_service, project_pipeline
from shopfloor.node.services import project_services
from shopfloor.pipelines import fit_pipeline, pipeline_state, run_history, save_state

__all__ = ["demo"]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
PIPELINE = "spindle-health"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plot(
    path: Path,
    t_s: Any,
    score: Any,
    snr: Any,
    threshold: float,
    onset_s: float,
    alert_s: float | None,
    baseline_end_s: float,
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    ax1.plot(t_s / 60, score, ".", ms=3, color="tab:blue", label="anomaly score (max |z|)")
    ax1.axhline(threshold, color="tab:red", lw=1, ls="--", label=f"alarm threshold {threshold:g}")
    ax2.plot(t_s / 60, snr, ".", ms=3, color="tab:purple")
    for ax in (ax1, ax2):
        ax.axvspan(0, baseline_end_s / 60, color="tab:green", alpha=0.08)
        ax.axvline(onset_s / 60, color="black", lw=1, ls=":")
        if alert_s is not None:
            ax.axvline(alert_s / 60, color="tab:red", lw=1.2)
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
    return True


def demo(
    folder: Annotated[Path, typer.Option(help="Where to build the demo project.")] = Path(
        "demo-project"
    ),
    time_scale: Annotated[
        float, typer.Option(min=1, max=20, help="Machine seconds per second.")
    ] = 8.0,
    baseline_s: Annotated[
        float, typer.Option(min=60, help="Machine seconds of healthy baseline.")
    ] = 200.0,
    watch_s: Annotated[
        float, typer.Option(min=60, help="Machine seconds to watch for the fault.")
    ] = 300.0,
) -> None:
    """Run the main job end to end on the embedded store and bus, and say what it did."""
    from shopfloor.sim.cnc import CncSimConfig, CncSimServer

    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (folder / ".shopfloor", folder / "health_trend.png"):
        if stale.is_dir():
            import shutil

            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    port = _free_port()
    text = EXAMPLE_PROJECT.replace("opc.tcp://127.0.0.1:4840", f"opc.tcp://127.0.0.1:{port}")
    text = text.replace("  port: 8000", "  port: 0")
    (folder / "factory.yaml").write_text(text, encoding="utf-8")
    project = load(folder)
    onset_s = baseline_s + 20.0
    sim_config = CncSimConfig.model_validate(
        {
            "port": port,
            "time_scale": time_scale,
            "asset_path": ASSET,
            "fault": {"type": "outer_race", "onset": onset_s, "growth_s": 120.0},
            "ground_truth_path": str(folder / "ground_truth.json"),
            "pki_dir": str(folder / ".shopfloor" / "sim-pki"),
        }
    )
    console.rule("[bold]shopfloor demo: vibration anomaly detection on a CNC spindle")
    console.print(
        f"project [bold]{project.config.project.name}[/] in {folder}/, "
        f"{sum(len(a.signals) for a in project.config.assets)} signals, "
        f"pipeline {PIPELINE!r}"
    )

    async def run() -> dict[str, Any]:
        sim = CncSimServer(sim_config)
        await sim.start()
        start_ns = sim.model.start_ns
        # connectors now; the pipeline joins once it has learned the baseline
        platform = Platform.from_project(
            project,
            api=api_server_factory(project, port=0),
            services=project_services(project, pipelines=False),
        )
        try:
            await platform.start()
            console.print(
                f"1. simulated CNC on {sim.endpoint_url} ({time_scale:g}x real time, "
                f"outer-race fault from {onset_s:g} s); platform API {platform.api_url}"
            )
            accel = SignalRef(ASSET, "spindle_accel")
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("2. healthy baseline", total=baseline_s, info="")
                while (sim.sim_time_ns() - start_ns) / NS_PER_S < baseline_s:
                    blocks = await platform.store.count(accel)
                    status = sim.status()
                    bar.update(
                        task,
                        completed=(status.sim_time_ns - start_ns) / NS_PER_S,
                        info=f"{status.state:<11} {status.speed_rpm:7.0f} rpm, "
                        f"{blocks} vibration blocks stored",
                    )
                    await asyncio.sleep(0.5)
                bar.update(task, completed=baseline_s)
            baseline_end = start_ns + int(baseline_s * NS_PER_S)
            await asyncio.sleep(2.0)  # let the last baseline blocks reach the store
            pipeline, plan = project_pipeline(project, PIPELINE, load_fitted=False)
            fit_info = await fit_pipeline(platform.store, pipeline, start_ns, baseline_end)
            save_state(fitted_path(project, PIPELINE), pipeline_state(pipeline, fit_info))
            history = await run_history(platform.store, pipeline, plan, start_ns, baseline_end)
            console.print(
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
            alert_ns = None
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("4. watching live", total=watch_s, info="")
                end_s = baseline_s + watch_s
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
                    bar.update(
                        task,
                        completed=(status.sim_time_ns - start_ns) / NS_PER_S - baseline_s,
                        info=f"fault severity {status.fault_severity:4.2f}, score {last:6.1f}"
                        + (", [red]ALARM[/]" if events else ""),
                    )
                    if events and alert_ns is None:
                        alert_ns = events[0].ts_ns
                        watch_until = status.sim_time_ns + 30 * NS_PER_S
                        end_s = min(end_s, (watch_until - start_ns) / NS_PER_S)
                    await asyncio.sleep(0.5)
                bar.update(task, completed=watch_s)
            await asyncio.sleep(1.0)
            health = await platform.status()
            stats = await platform.store.stats()
            scores = await platform.store.read_scalars(
                SignalRef(ASSET, "health.anomaly_score"), start_ns, sim.sim_time_ns()
            )
            snr = await platform.store.read_scalars(
                SignalRef(ASSET, "health.envelope.bpfo.snr.x"), start_ns, sim.sim_time_ns()
            )
            alerts = await platform.store.read_events(
                start_ns, sim.sim_time_ns() + NS_PER_S, kind="alert_raised"
            )
            letters = await platform.store.count_dead_letters()
            return {
                "start_ns": start_ns,
                "onset_ns": sim.model.onset_ns,
                "alerts": alerts,
                "status": health,
                "stats": stats,
                "scores": scores,
                "snr": snr,
                "letters": letters,
                "baseline_end": baseline_end,
            }
        finally:
            await platform.stop()
            await sim.stop()

    result = run_async(run)
    start_ns, onset_ns = result["start_ns"], result["onset_ns"]
    alerts = result["alerts"]
    false_alarms = [a for a in alerts if a.ts_ns < onset_ns]
    true_alarms = [a for a in alerts if a.ts_ns >= onset_ns]
    rows = result["stats"].rows
    connector = result["status"]["services"]["connectors"]["cnc"]
    console.print(
        f"5. stored over OPC UA: {rows['scalars']:,} scalar values, "
        f"{rows['waveforms']:,} vibration blocks ({rows['waveforms'] * 25600 * 3:,} "
        f"samples), {rows['events']:,} events; {result['letters']} dead letters; "
        f"connector {connector['state']}, {connector['reconnects']} reconnects"
    )
    threshold = 10.0
    import numpy as np

    t_s = (result["scores"].column("ts").cast("int64").to_numpy() - start_ns) / 1e9
    score = result["scores"].column("value").to_numpy()
    snr_t = (result["snr"].column("ts").cast("int64").to_numpy() - start_ns) / 1e9
    snr = np.interp(t_s, snr_t, result["snr"].column("value").to_numpy()) if snr_t.size else score
    alert_s = (true_alarms[0].ts_ns - start_ns) / 1e9 if true_alarms else None
    plotted = _plot(
        folder / "health_trend.png",
        t_s,
        score,
        snr,
        threshold,
        (onset_ns - start_ns) / 1e9,
        alert_s,
        (result["baseline_end"] - start_ns) / 1e9,
    )
    console.rule("[bold]summary")
    console.print(
        f"fault onset (ground truth)   {format_ns(onset_ns)}  (machine time "
        f"{(onset_ns - start_ns) / 1e9:.0f} s)"
    )
    if true_alarms:
        delay = (true_alarms[0].ts_ns - onset_ns) / 1e9
        console.print(
            f"first alarm                  {format_ns(true_alarms[0].ts_ns)}  "
            f"[bold]{delay:.0f} s after onset[/] ({true_alarms[0].message})"
        )
    else:
        console.print("first alarm                  [red]none within the watch time[/]")
    console.print(
        f"false alarms before onset    {len(false_alarms)} "
        f"(over {(onset_ns - start_ns) / 1e9:.0f} s of healthy running)"
    )
    if plotted:
        console.print(f"health trend                 {folder / 'health_trend.png'}")
    console.print(f"ground truth                 {folder / 'ground_truth.json'}")
    console.print(
        f"[green]done[/] in {time.perf_counter() - started:.0f} s. Look around: "
        f"shopfloor signals -p {folder}; shopfloor query -p {folder} --asset {ASSET} "
        "--signal health.anomaly_score --every 10s"
    )
    if not true_alarms:
        raise typer.Exit(1)
