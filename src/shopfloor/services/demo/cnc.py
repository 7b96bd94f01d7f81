"""Use case 1: condition monitoring of a CNC spindle, from a healthy baseline to an alarm.

A simulated CNC machining centre runs as a real OPC UA server; the platform connects to
it with its OPC UA connector and stores scalars and tri-axial vibration. The demo then
does what a reliability engineer does with the runtime: trains a model on the healthy
baseline (registered as ``spindle@1`` with its model card and report), deploys it active
on the machine, and lets the project's alert rule on the deployment's state raise an
alarm when a bearing fault grows, and write it back to the machine's alarm node.
:func:`run_cnc` does it on a running platform and returns how well it went
(:class:`CncResult`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopfloor.config.template import EXAMPLE_PROJECT
from shopfloor.model import NS_PER_S, Alert, SignalRef, format_ns
from shopfloor.node import Platform
from shopfloor.services.demo.common import (
    Check,
    DemoReporter,
    UseCaseOutcome,
    deploy_active,
    deployment_health,
)
from shopfloor.services.models import train_model, trained_lines
from shopfloor.services.options import DemoOptions, TrainOptions
from shopfloor.store.protocol import AlertStore

if TYPE_CHECKING:
    from shopfloor.sim.cnc import CncSimServer

__all__ = [
    "ALARM_NODES",
    "ASSET",
    "MODEL",
    "PIPELINE",
    "RULE",
    "CncResult",
    "baseline_training",
    "cnc_project_text",
    "cnc_simulator",
    "run_cnc",
]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
PIPELINE = "spindle-health"
MODEL = "spindle"
RULE = "spindle-alarm"
POLL_S = 0.5
ALARM_NODES = {  # what the alert writes to the machine: node name, value
    "Alarm.Active": True,
    "Alarm.Severity": 800,
    "Alarm.Message": "{severity}: {message}",
}
_TYPES = {"Alarm.Active": "Boolean", "Alarm.Severity": "Int32", "Alarm.Message": "String"}


def _node(name: str) -> str:
    return f"ns=2;s=CNC01.{name}"


def cnc_project_text(opcua_port: int, *, notifiers: str = "[]") -> str:
    """Use case 1's ``factory.yaml``: the example project, with the model, rule and write-back.

    ``notifiers`` is the YAML of the project's ``notifiers:`` list (none in the demo).
    """
    targets = "\n".join(
        f'      - {{address: "{_node(name)}", type: {_TYPES[name]}'
        + (", min: 1, max: 1000}" if name == "Alarm.Severity" else "}")
        for name in ALARM_NODES
    )
    writes = "\n".join(
        f'      - {{connector: cnc, address: "{_node(name)}", value: {value!r}'
        + (", reset: false}" if name == "Alarm.Active" else "}")
        for name, value in ALARM_NODES.items()
    ).replace("True", "true")
    text = EXAMPLE_PROJECT.replace("opc.tcp://127.0.0.1:4840", f"opc.tcp://127.0.0.1:{opcua_port}")
    replacements = {
        "  port: 8000": "  port: 0",
        "models: []": (
            "runtime: {reconcile_s: 0.25}\n\n"
            f"models:\n  - {{name: {MODEL}, pipeline: {PIPELINE}, type: pca}}   # SPE"
        ),
        "alert_rules: []": (
            f"alert_rules:\n  - name: {RULE}\n    deployment: {MODEL}       # where it runs active"
            "\n    output: state             # 0 normal, 1 warning, 2 alarm"
            "\n    threshold: 1.5\n    clear_for_s: 60            # resolved after a minute below"
            "\n    severity: alarm"
            "\n    message: spindle bearing anomaly\n    writeback:\n" + writes
        ),
        "notifiers: []": f"notifiers: {notifiers}",
        "writeback: []": "writeback:\n  - connector: cnc\n    targets:\n" + targets,
    }
    for old, new in replacements.items():
        if old not in text:  # pragma: no cover - the example project changed under us
            raise AssertionError(f"the example project has no {old!r} to replace")
        text = text.replace(old, new)
    return text


def baseline_training(start_ns: int, end_ns: int) -> TrainOptions:
    """Train ``spindle`` on the healthy baseline ``[start_ns, end_ns)``.

    No test part: the baseline is short, and the calibration part needs 20 healthy
    windows or more (:mod:`shopfloor.ml.calibration`); the live fault is the test.
    """
    return TrainOptions(
        name=MODEL,
        pipeline=PIPELINE,
        from_=format_ns(start_ns),
        to=format_ns(end_ns),
        split="0.7,0.3",
    )


@dataclass
class CncResult:
    """How use case 1 went: times in UTC nanoseconds, counts, and where the files are."""

    start_ns: int
    onset_ns: int
    baseline_end_ns: int
    deployed_ns: int
    alerts: list[Alert]
    rows: dict[str, int]
    letters: int
    connector: dict[str, Any]
    plot: Path | None
    ground_truth: Path
    card: dict[str, Any] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)
    first_alert_wall_s: float | None = None
    false_alarms: list[Alert] = field(default_factory=list)
    true_alarms: list[Alert] = field(default_factory=list)

    def stored(self) -> str:
        """What the platform stored over OPC UA, and how its connector fared."""
        rows, connector = self.rows, self.connector
        return (
            f"stored over OPC UA: {rows.get('scalars', 0):,} scalar values, "
            f"{rows.get('waveforms', 0):,} vibration blocks "
            f"({rows.get('waveforms', 0) * 25600 * 3:,} samples), {rows.get('events', 0):,} "
            f"events; {self.letters} dead letters; connector {connector.get('state', '?')}, "
            f"{connector.get('reconnects', 0)} reconnects"
        )

    def outcome(self) -> UseCaseOutcome:
        """The figures and checks of the summary: alarm after the fault, not before, written."""
        first = self.true_alarms[0] if self.true_alarms else None
        expected = {k: v for k, v in ALARM_NODES.items() if not isinstance(v, str)}
        written_ok = bool(self.written) and all(
            self.written.get(k) == v for k, v in expected.items()
        )
        return UseCaseOutcome(
            title="use case 1: CNC spindle (OPC UA)",
            first_alert_wall_s=self.first_alert_wall_s,
            detection_delay_s=(
                None if first is None else (first.opened_ns - self.onset_ns) / NS_PER_S
            ),
            false_alarms=len(self.false_alarms),
            checks=[
                Check(
                    "alarm after the injected fault",
                    first is not None,
                    "none within the watch time"
                    if first is None
                    else f"{(first.opened_ns - self.onset_ns) / NS_PER_S:.0f} s after onset",
                ),
                Check(
                    "no alarm before the fault",
                    not self.false_alarms,
                    f"{len(self.false_alarms)} before onset",
                ),
                Check(
                    "alarm written back to the machine",
                    written_ok,
                    ", ".join(f"{k} = {v!r}" for k, v in self.written.items()) or "nothing read",
                ),
            ],
        )

    def details(self) -> list[str]:
        """Onset, first alarm, false alarms and files, one line each."""
        start_ns, onset_ns = self.start_ns, self.onset_ns
        healthy_s = (onset_ns - start_ns) / NS_PER_S
        unseen_s = (onset_ns - self.baseline_end_ns) / NS_PER_S
        lines = [
            f"fault onset (ground truth)   {format_ns(onset_ns)}  (machine time {healthy_s:.0f} s)"
        ]
        if self.true_alarms:
            first = self.true_alarms[0]
            lines.append(
                f"first alarm                  {format_ns(first.opened_ns)}  "
                f"{(first.opened_ns - onset_ns) / NS_PER_S:.0f} s after onset "
                f"({first.rule}: {first.message})"
            )
        else:
            lines.append("first alarm                  none within the watch time")
        lines.append(
            f"false alarms before onset    {len(self.false_alarms)} "
            f"(over {healthy_s:.0f} s of healthy running, {unseen_s:.0f} s of it after "
            "the training baseline)"
        )
        if self.written:
            shown = ", ".join(f"{k} = {v!r}" for k, v in self.written.items())
            lines.append(f"written to the machine       {shown} (read back)")
        report = self.card.get("report")
        if report:
            lines.append(f"model report                 {report['html']}")
        if self.plot is not None:
            lines.append(f"health trend                 {self.plot}")
        lines.append(f"ground truth                 {self.ground_truth}")
        return lines


def cnc_simulator(options: DemoOptions, port: int) -> CncSimServer:
    """The simulated CNC on ``port``, an outer-race fault 20 s after the baseline."""
    from shopfloor.sim.cnc import CncSimConfig, CncSimServer

    folder = options.folder
    config = CncSimConfig.model_validate(
        {
            "port": port,
            "time_scale": options.time_scale,
            "asset_path": ASSET,
            "fault": {"type": "outer_race", "onset": options.baseline_s + 20.0, "growth_s": 120.0},
            "ground_truth_path": str(folder / "ground_truth.json"),
            "pki_dir": str(folder / ".shopfloor" / "sim-pki"),
        }
    )
    return CncSimServer(config)


async def run_cnc(
    options: DemoOptions, platform: Platform, sim: CncSimServer, reporter: DemoReporter
) -> CncResult:
    """Baseline, train, deploy and watch for the fault on the running ``platform``.

    Raises
    ------
    ShopfloorError
        When training or the deployment fails.
    """
    folder = options.folder
    project = platform.project
    started = time.monotonic()
    start_ns = sim.model.start_ns
    onset_s = options.baseline_s + 20.0
    store = platform.store
    assert isinstance(store, AlertStore)  # the embedded store keeps alerts
    reporter.step(
        f"1. simulated CNC on {sim.endpoint_url} ({options.time_scale:g}x real time, "
        f"outer-race fault from {onset_s:g} s), read by the OPC UA connector"
    )
    accel = SignalRef(ASSET, "spindle_accel")
    reporter.phase("2. healthy baseline", options.baseline_s)
    while (sim.sim_time_ns() - start_ns) / NS_PER_S < options.baseline_s:
        blocks = await store.count(accel)
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
    training = baseline_training(start_ns, baseline_end)
    card = await train_model(training, project, who="demo", store=store)
    reporter.step(
        "\n   ".join(
            [
                "3. trained on the baseline's cutting windows (shopfloor train):",
                *trained_lines(card),
            ]
        )
    )
    deployed_ns = await deploy_active(
        platform, MODEL, card["version"], ASSET, reason="trained on the demo's healthy baseline"
    )
    reporter.step(
        f"4. deployed {MODEL}@{card['version']} active on {ASSET}: it scores every "
        f"cutting window and writes {MODEL}.score, .health_index and .state; rule "
        f"{RULE!r} raises on state alarm and writes back to the machine"
    )
    alert = await _watch(options, platform, sim, start_ns, reporter)
    first_alert_wall_s = time.monotonic() - started if alert is not None else None
    written: dict[str, Any] = {}
    if alert is not None:
        written = await _written_back(store, alert, sim)
        reporter.step(
            f"6. alarm {format_ns(alert.opened_ns)}: {alert.message}; written back and "
            "read from the machine: "
            + ", ".join(f"{name} = {value!r}" for name, value in written.items())
        )
    await asyncio.sleep(1.0)
    health = await platform.status()
    stats = await store.stats()
    end_ns = sim.sim_time_ns()
    index = await store.read_scalars(
        SignalRef(ASSET, f"{MODEL}.health_index"), start_ns, end_ns + NS_PER_S
    )
    scores = await store.read_scalars(
        SignalRef(ASSET, f"{MODEL}.score"), start_ns, end_ns + NS_PER_S
    )
    alerts = await store.list_alerts(rule=RULE)
    letters = await store.count_dead_letters(source="cnc")
    onset = sim.model.onset_ns
    onset_ns = onset if onset is not None else start_ns + int(onset_s * NS_PER_S)
    alerts.sort(key=lambda a: a.opened_ns)
    true_alarms = [a for a in alerts if a.opened_ns >= onset_ns]
    plot = await asyncio.to_thread(
        _plot_trend,
        folder / "health_trend.png",
        index,
        scores,
        card["calibration"]["thresholds"],
        start_ns,
        onset_ns,
        true_alarms[0].opened_ns if true_alarms else None,
        baseline_end,
    )
    return CncResult(
        start_ns=start_ns,
        onset_ns=onset_ns,
        baseline_end_ns=baseline_end,
        deployed_ns=deployed_ns,
        alerts=alerts,
        rows=dict(stats.rows),
        letters=letters,
        connector=dict(health["services"]["connectors"]["cnc"]),
        plot=plot,
        ground_truth=folder / "ground_truth.json",
        card=card,
        written=written,
        first_alert_wall_s=first_alert_wall_s,
        false_alarms=[a for a in alerts if a.opened_ns < onset_ns],
        true_alarms=true_alarms,
    )


async def _watch(
    options: DemoOptions,
    platform: Platform,
    sim: Any,
    start_ns: int,
    reporter: DemoReporter,
) -> Alert | None:
    """Watch the deployment until the watch time ends, or 20 s after the first alarm."""
    store = platform.store
    assert isinstance(store, AlertStore)
    alert: Alert | None = None
    reporter.phase("5. watching live", options.watch_s)
    end_s = options.baseline_s + options.watch_s
    while (sim.sim_time_ns() - start_ns) / NS_PER_S < end_s:
        status = sim.status()
        live = deployment_health(platform, MODEL, ASSET)
        index = await store.read_scalars(
            SignalRef(ASSET, f"{MODEL}.health_index"),
            status.sim_time_ns - 30 * NS_PER_S,
            status.sim_time_ns + NS_PER_S,
        )
        last = index.column("value")[-1].as_py() if index.num_rows else float("nan")
        if alert is None:
            raised = await store.list_alerts(rule=RULE)
            if raised:
                alert = min(raised, key=lambda a: a.opened_ns)
                end_s = min(end_s, (status.sim_time_ns - start_ns) / NS_PER_S + 20.0)
        reporter.progress(
            (status.sim_time_ns - start_ns) / NS_PER_S - options.baseline_s,
            f"fault severity {status.fault_severity:4.2f}, health index {last:5.1f}, "
            f"state {live.get('state', '-')}, {live.get('windows', 0)} windows scored",
            alarm=alert is not None,
        )
        await asyncio.sleep(POLL_S)
    reporter.progress(options.watch_s, "")
    reporter.phase_done()
    return alert


async def _written_back(store: AlertStore, alert: Alert, sim: Any) -> dict[str, Any]:
    """Wait for the alert's write-back, then read the alarm nodes back from the machine."""
    from asyncua import Client

    async with asyncio.timeout(30):
        while True:
            history = await store.alert_history(alert.id or 0)
            if sum(c.action in ("written", "write_failed") for c in history) >= len(ALARM_NODES):
                break
            await asyncio.sleep(0.2)
    client = Client(sim.endpoint_url, timeout=10)
    async with client:  # as an operator panel would see it, not through the platform
        return {name: await client.get_node(sim.node_id(name)).read_value() for name in ALARM_NODES}


def _plot_trend(
    path: Path,
    index: Any,
    scores: Any,
    thresholds: dict[str, float],
    start_ns: int,
    onset_ns: int,
    alert_ns: int | None,
    baseline_end_ns: int,
) -> Path | None:
    """The deployment's health index and score over machine time; ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import numpy as np

    t_s = (index.column("ts").cast("int64").to_numpy() - start_ns) / 1e9
    health = index.column("value").to_numpy(zero_copy_only=False)
    s_t = (scores.column("ts").cast("int64").to_numpy() - start_ns) / 1e9
    score = scores.column("value").to_numpy(zero_copy_only=False)
    onset_s = (onset_ns - start_ns) / 1e9
    baseline_end_s = (baseline_end_ns - start_ns) / 1e9
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    ax1.plot(t_s / 60, health, ".", ms=3, color="tab:blue")
    ax1.axhline(50, color="tab:red", lw=1, ls="--", label="alarm threshold (health index 50)")
    ax1.set_ylim(-3, 103)
    ax2.plot(s_t / 60, score, ".", ms=3, color="tab:purple")
    ax2.axhline(thresholds["alarm"], color="tab:red", lw=1, ls="--", label="alarm")
    ax2.axhline(thresholds["warning"], color="tab:orange", lw=1, ls=":", label="warning")
    for ax in (ax1, ax2):
        ax.axvspan(0, baseline_end_s / 60, color="tab:green", alpha=0.08)
        ax.axvline(onset_s / 60, color="black", lw=1, ls=":")
        if alert_ns is not None:
            ax.axvline((alert_ns - start_ns) / 1e9 / 60, color="tab:red", lw=1.2)
        ax.legend(loc="lower left" if ax is ax1 else "upper left", fontsize=8)
    ax1.set_ylabel(f"{MODEL}.health_index")
    ax1.set_title(
        "CNC spindle health (deployed model): training baseline (green), fault onset "
        "(dotted), alarm (red)",
        fontsize=10,
    )
    ax2.set_yscale("symlog", linthresh=max(1.0, float(thresholds["alarm"])))
    ax2.set_ylim(bottom=min(0.0, float(np.nanmin(score))) if score.size else 0.0)
    ax2.set_ylabel(f"{MODEL}.score")
    ax2.set_xlabel("machine time since start (min)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
