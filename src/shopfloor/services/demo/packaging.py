"""Use case 2: defect classification on a packaging line, on use case 1's platform.

The use-case-specific part is :data:`PACKAGING_CONFIG` (the line in ``factory.yaml``:
a camera's hot folder, the line's PLC over Modbus, the defect-rate rule and the reject
gate), the model's type and parameters, and the calls below, to the services a user
calls:

1. the simulated line writes a labelled batch (``batch/<class>/part-N.png``);
2. ``shopfloor train --name cartons --images batch --model classical --params ...``
   registers ``cartons@1`` (texture features and an SVM, no neural network);
3. ``shopfloor deploy cartons@1`` runs it active on the live camera signal;
4. the line runs; from part ``healthy_parts + 1`` a worn sealing jaw tears more seals;
   the deployment classifies every image, the reject gate is written for defective
   parts, and the defect-rate rule raises an alert.

:func:`run_packaging` does it and reconciles what the platform did with the
simulator's ground truth (:class:`PackagingResult`).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopfloor.config import Project
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.errors import ShopfloorError
from shopfloor.model import SignalRef, now_ns
from shopfloor.node import Platform
from shopfloor.services.demo.common import DemoReporter, add_items, deploy_active, until
from shopfloor.services.demo.groundtruth import DEFECT_RULE, PackagingResult, reconcile
from shopfloor.services.image_models import image_trained_lines, train_image_model
from shopfloor.services.options import DemoOptions, TrainOptions
from shopfloor.store.protocol import AlertStore

if TYPE_CHECKING:
    from shopfloor.sim.packaging.line import PackagingLine
    from shopfloor.sim.packaging.plc import PackagingPlc

__all__ = [
    "CLASSIFIER",
    "DEFECT_RULE",
    "LINE_ASSET",
    "LINE_SECTIONS",
    "PACKAGING_CONFIG",
    "PackagingResult",
    "packaging_connectors",
    "packaging_line",
    "packaging_project_text",
    "run_packaging",
]

LINE_ASSET = "acme/plant1/packaging/line1/cell1/inspection-1"
CLASSIFIER = "cartons"
CAMERA = "camera"  # the hot folder, in the project folder; ground truth in camera-labels.csv
BATCH = "batch"  # the labelled batch, one sub-folder per class
LINE_SECTIONS = ("assets", "connectors")
"""The line itself: what the platform connects to without a classifier."""

PACKAGING_CONFIG = """\
assets:
  - path: acme/plant1/packaging/line1/cell1/inspection-1
    type: packaging_inspection
    signals:
      - {name: camera, kind: image, connector: line1-camera, source: "*.png"}
      - {name: parts_produced, connector: line1-plc, source: "input:0",
         source_options: {type: uint32}}
      - {name: parts_rejected, connector: line1-plc, source: "input:2",
         source_options: {type: uint32}}
      - {name: reject_request, connector: line1-plc, source: "holding:10",
         source_options: {type: uint32}}        # the gate's request register
      - {name: line_running, connector: line1-plc, source: "coil:0"}
connectors:
  - name: line1-camera              # the camera drops one image per carton
    type: hotfolder
    folder: camera
    settle_s: 0.3
    poll_s: 0.2
    name_pattern: 'part-(?P<part_id>\\d+)'     # part-000042.png is part 42
  - name: line1-plc                 # the line's PLC: counts and the reject gate
    type: modbus
    host: 127.0.0.1
    port: {plc_port}
    poll_interval_ms: 500
alert_rules:
  - name: carton-defect-rate
    kind: defect_rate
    deployment: cartons             # counts its state: 2 defective, 0 good
    window_n: 50                    # the last 50 cartons
    threshold: 0.3                  # a healthy line makes under 10 %
    hysteresis: 0.1
    severity: alarm
    message: more than 30 % of the last 50 cartons defective
writeback:
  - connector: line1-plc
    min_interval_s: 0.1             # the PLC takes a request every 20 ms
    targets:
      - {address: "holding:10", type: UInt32, queue: true, rest: 0}
rejects:                            # defective cartons' part ids to the gate
  - {deployment: cartons, connector: line1-plc, address: "holding:10"}
"""
"""The packaging line in ``factory.yaml``: all that use case 2 adds to the project."""

HEALTHY_RATES = {
    "good": 0.92,
    "dented": 0.02,
    "torn_seal": 0.015,
    "misprinted_label": 0.015,
    "contamination": 0.015,
    "misaligned_cap": 0.015,
}
FAULT_RATES = {**HEALTHY_RATES, "good": 0.62, "torn_seal": 0.315}  # a worn sealing jaw
BATCH_RATES = {**dict.fromkeys(HEALTHY_RATES, 0.1), "good": 0.5}  # half of them good
MODEL_TYPE = "classical"
MODEL_PARAMS = {  # the carton (not the belt), contrast-normalized: lighting varies
    "preprocess": {
        "size": [96, 96],
        "grayscale": True,
        "roi": [16, 8, 96, 112],
        "normalize": "per_image",
    },
    # where a defect sits on the carton matters (a cap, a seal, a label): texture plus a
    # 4×4 grid of local statistics, under the default SVM (on simulator renders of seeds 1
    # and 2, 900 to train, 600 to test: 93.7 % of six balanced classes, 91.8 % with a
    # logistic regression instead)
    "spatial_grid": 4,
}


def packaging_project_text(
    text: str, plc_port: int, *, sections_only: tuple[str, ...] | None = None
) -> str:
    """``text`` (a project file) with the packaging line's entries added to its sections.

    ``sections_only`` names the sections to add (default: all), e.g. the line alone
    (``assets``, ``connectors``, ``writeback``) where models or rules cannot load.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in PACKAGING_CONFIG.replace("{plc_port}", str(plc_port)).splitlines():
        if line and not line.startswith((" ", "#")):
            current = sections.setdefault(line.rstrip(":"), [])
        else:
            current.append(line)
    for section, items in sections.items():
        if sections_only is None or section in sections_only:
            text = add_items(text, section, "\n".join(items))
    return text


def packaging_connectors(project: Project) -> list[ConnectorConfig]:
    """The project's connectors to the packaging line (its camera and its PLC)."""
    return [c for c in project.config.connectors if c.name in ("line1-camera", "line1-plc")]


def packaging_line(options: DemoOptions) -> PackagingLine:
    """The simulated line, seeded, at the demo's speed and healthy class mix."""
    from shopfloor.sim.packaging.line import PackagingLine, PackagingSimConfig

    config = PackagingSimConfig(
        seed=11, speed_parts_s=options.line_speed, defect_rates=HEALTHY_RATES
    )
    return PackagingLine(config)


async def run_packaging(
    options: DemoOptions,
    platform: Platform,
    line: PackagingLine,
    plc: PackagingPlc,
    reporter: DemoReporter,
) -> PackagingResult:
    """Batch, train, deploy, run the line with a seal fault, reconcile (module docstring).

    A use case that cannot run here (no image model type, no image deployment) ends as
    ``available=False`` with the reason; the demo's checks then fail.
    """
    started = time.monotonic()
    folder = options.folder
    reporter.step(
        f"1. simulated packaging line at {options.line_speed:g} parts/s: camera images "
        f"into {folder / CAMERA}/ (hot-folder connector), PLC on modbus://127.0.0.1:"
        f"{plc.port} (Modbus connector)"
    )
    await _write_batch(folder / BATCH, options, reporter)
    reporter.phase("3. training (decoding the batch)", options.batch_parts)
    try:
        card = await _train(platform, folder / BATCH, reporter)
    except ShopfloorError as err:
        return PackagingResult(False, f"training an image classifier: {err}")
    finally:
        reporter.phase_done()
    reporter.step(
        "\n   ".join(
            [
                f"3. trained on the labelled batch (shopfloor train --name {CLASSIFIER} "
                f"--images {BATCH} --model {MODEL_TYPE} --params ...):",
                *image_trained_lines(card),
            ]
        )
    )
    try:
        await deploy_active(
            platform,
            CLASSIFIER,
            card["version"],
            LINE_ASSET,
            reason="trained on the line's labelled batch",
        )
    except (ShopfloorError, TimeoutError) as err:
        return PackagingResult(False, f"deploying {CLASSIFIER} on the camera: {err}", card=card)
    reporter.step(
        f"4. deployed {CLASSIFIER}@{card['version']} active on {LINE_ASSET}: it classifies "
        f"every camera image ({CLASSIFIER}.class, .confidence, .state); rule "
        f"{DEFECT_RULE!r} alerts on the defect rate, defective cartons are rejected "
        "through the PLC's gate"
    )
    result = await _live(options, platform, line, plc, reporter, started)
    result.card = card
    return result


async def _write_batch(batch: Path, options: DemoOptions, reporter: DemoReporter) -> None:
    """The simulator's labelled batch: ``batch/<class>/part-N.png``."""
    from shopfloor.sim.packaging.line import PackagingLine, PackagingSimConfig, encode_image

    line = PackagingLine(PackagingSimConfig(seed=7, defect_rates=BATCH_RATES))
    total = options.batch_parts
    reporter.phase("2. labelled batch from the line", total)
    for part in line.parts(total):
        target = batch / part.defect / f"{part.file_name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        data = await asyncio.to_thread(encode_image, part.image, "png")
        await asyncio.to_thread(target.write_bytes, data)
        by_class = ", ".join(f"{k} {v}" for k, v in line.counts.by_class.items())
        reporter.progress(line.counts.produced, by_class)
    reporter.phase_done()


async def _train(platform: Platform, batch: Path, reporter: DemoReporter) -> dict[str, Any]:
    """``shopfloor train --name cartons --images batch --model classical --params ...``."""
    options = TrainOptions(
        name=CLASSIFIER, images=batch, model=MODEL_TYPE, params=json.dumps(MODEL_PARAMS)
    )

    def progress(done: int, total: int) -> None:
        reporter.progress(done, "fitting" if done >= total else f"{done}/{total} images")

    return await train_image_model(options, platform.project, who="demo", progress=progress)


async def _live(
    options: DemoOptions,
    platform: Platform,
    line: PackagingLine,
    plc: PackagingPlc,
    reporter: DemoReporter,
    started: float,
) -> PackagingResult:
    """Run the line with the seal fault; watch; then reconcile with the ground truth."""
    from shopfloor.sim.packaging.runner import run_line

    store = platform.store
    assert isinstance(store, AlertStore)
    onset_part = options.healthy_parts + 1
    total = options.healthy_parts + options.fault_parts
    start_ns = now_ns()

    def on_part(part_id: int, _defect: str) -> None:
        if part_id == onset_part - 1:  # from the next part on
            line.change_rates(FAULT_RATES)

    gate = asyncio.create_task(_scan_gate(plc, line))
    running = asyncio.create_task(
        run_line(line.config, options.folder / CAMERA, parts=total, on_part=on_part, line=line)
    )
    events = SignalRef(LINE_ASSET, f"{CLASSIFIER}.events")
    states = SignalRef(LINE_ASSET, f"{CLASSIFIER}.state")  # one per image, written last
    seen_s: dict[int, float] = {}  # when each defect-rate alert was first seen
    reporter.phase("5. line running", total)
    try:
        while True:
            scored = await store.count(states)
            for alert in await store.list_alerts(rule=DEFECT_RULE):
                seen_s.setdefault(alert.id or 0, time.monotonic() - started)
            c = line.counts
            reporter.progress(
                c.produced,
                f"{scored} classified, {c.defective} defective (truth), {c.rejected} "
                f"rejected{'' if c.produced < onset_part else ', seal jaw worn'}",
                alarm=bool(seen_s),
            )
            if running.done():
                running.result()  # the line's own failure, if any
                break
            await asyncio.sleep(0.25)

        async def caught_up() -> bool:  # every image classified (or 30 s passed)
            return await store.count(states) >= line.counts.produced

        await until(caught_up, timeout_s=30.0)
        await asyncio.sleep(2.0)  # the last rejects reach the gate
        reporter.progress(total, "")
    finally:
        reporter.phase_done()
        gate.cancel()
        running.cancel()
    return await reconcile(
        store,
        line,
        plc,
        labels=options.folder / f"{CAMERA}-labels.csv",
        events=events,
        onset_part=onset_part,
        start_ns=start_ns,
        seen_s=seen_s,
    )


async def _scan_gate(plc: PackagingPlc, line: PackagingLine) -> None:
    """The PLC's scan cycle: fire the gate for a reject request every 20 ms."""
    while True:
        await plc.sync(line.counts.produced)
        await asyncio.sleep(0.02)
