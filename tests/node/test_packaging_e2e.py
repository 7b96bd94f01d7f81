"""End to end on loopback: packaging line → hot folder → classifier deployed → reject gate → alert.

Real servers only: the packaging-line simulator writes carton images into a hot folder
and serves its PLC over Modbus TCP; the platform reads the folder with its hot-folder
connector and writes the reject gate through its Modbus connector. The project is the
one ``docs/packaging-line.md`` documents (:func:`project_text`).

1. A labelled batch: the simulator renders parts of another seed (every class well
   represented) into ``batch/<class>/``; a ``classical`` image model is trained on them
   by the service ``shopfloor train --images`` runs, registered as ``carton``, and
   deployed active with the same call ``shopfloor deploy`` makes.
2. The line runs (seeded, a few parts per second). Every image is classified once by the
   runtime; each part classified defective has its id written to the PLC's reject
   register (``holding:10``, queued, read back), the PLC's gate fires, and the
   defect-rate rule raises its alert.
3. Reconciled with the simulator's ground truth (``camera-labels.csv``) and counts: one
   classification per image written, none twice; the PLC rejected exactly the parts the
   platform classified defective (no unknown part id); the classification accuracy
   against the ground truth is reported (and must beat always saying ``good``).

Why the gate is paced at ``MIN_INTERVAL_S``: the PLC takes a request once per part
(``1 / SPEED`` s); two ids written within one cycle would leave only the second. The
write-back queues ids and writes them at least one cycle and a half apart.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shopfloor.config import Project, load_project
from shopfloor.model import SignalRef
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.services import deployments as service
from shopfloor.services.image_models import train_image_model
from shopfloor.services.options import TrainOptions
from shopfloor.sim.packaging.line import PackagingLine, PackagingSimConfig, encode_image
from shopfloor.sim.packaging.plc import PackagingPlc
from shopfloor.sim.packaging.runner import run_line
from shopfloor.store import DuckDBStore
from tests.runtime.test_deployments import until

pytestmark = [pytest.mark.slow]

LINE = "acme/plant1/packaging/line1/cell1/camera-1"
SIZE = 64
SPEED = 3.0
PARTS = 45
TRAIN_PARTS = 300
MIN_INTERVAL_S = 0.5
TRAIN_RATES = {
    "good": 0.4,
    "dented": 0.12,
    "torn_seal": 0.12,
    "misprinted_label": 0.12,
    "contamination": 0.12,
    "misaligned_cap": 0.12,
}
LINE_RATES = {**TRAIN_RATES, "good": 0.7, "misaligned_cap": 0.06}


def project_text(plc_port: int) -> str:
    """The packaging line's project (as in docs/packaging-line.md), on loopback."""
    return f"""
project: {{name: packaging-line}}
runtime: {{reconcile_s: 0.2}}
assets:
  - path: {LINE}
    signals:
      - {{name: camera, kind: image, connector: camera, source: "*.png"}}
      - {{name: parts_produced, connector: plc, source: "input:0",
         source_options: {{type: uint32}}}}
connectors:
  - name: camera
    type: hotfolder
    folder: camera
    settle_s: 0.2
    poll_s: 0.1
    name_pattern: 'part-(?P<part_id>\\d+)'
  - name: plc
    type: modbus
    host: 127.0.0.1
    port: {plc_port}
    poll_interval_ms: 500
    tags:
      - {{name: reject_request, address: "holding:10", type: uint32}}
writeback:
  - connector: plc
    min_interval_s: {MIN_INTERVAL_S}
    targets:
      - {{address: reject_request, type: UInt32, queue: true, rest: 0}}
rejects:
  - {{deployment: carton-qc, connector: plc, address: reject_request}}
alert_rules:
  - {{name: carton-defect-rate, deployment: carton-qc, kind: defect_rate, window_n: 10,
     threshold: 0.2, hysteresis: 0.1, severity: alarm}}
"""


async def train(project: Project, folder: Path) -> tuple[str, float]:
    """The labelled batch into ``folder/<class>/``, then ``shopfloor train --images`` on it."""
    config = PackagingSimConfig(seed=11, size=SIZE, defect_rates=TRAIN_RATES)
    for part in PackagingLine(config).parts(TRAIN_PARTS):
        (folder / part.defect).mkdir(parents=True, exist_ok=True)
        (folder / part.defect / f"{part.file_name}.png").write_bytes(
            encode_image(part.image, "png")
        )
    options = TrainOptions(
        name="carton",
        images=folder,
        model="classical",
        params=json.dumps({"preprocess": {"size": [SIZE, SIZE]}}),
        split="0.8,0.1,0.1",
    )
    card = await train_image_model(options, project, who="test")
    return f"carton@{card['version']}", float(card["metrics"]["train_seconds"])


def service_health(platform: Platform, name: str) -> dict[str, Any]:
    return next(s.health() for s in platform.services if s.name == name)


async def test_packaging_line_rejects_and_alerts(tmp_path: Path) -> None:
    line = PackagingLine(
        PackagingSimConfig(seed=5, size=SIZE, speed_parts_s=SPEED, defect_rates=LINE_RATES)
    )
    async with PackagingPlc(line) as plc:
        (tmp_path / "factory.yaml").write_text(project_text(plc.port))
        (tmp_path / "camera").mkdir()
        project = load_project(tmp_path)
        ref, fit_s = await train(project, tmp_path / "batch")
        platform = Platform.from_project(project, services=project_services(project))
        await platform.start()
        store = platform.store
        assert isinstance(store, DuckDBStore)
        key = f"carton-qc on {LINE}"
        try:
            rows = await service.deploy(
                project, store, ref, assets=[LINE], mode="active", name="carton-qc", who="test"
            )
            assert rows[0]["pipeline"] == "image:camera"
            await until(
                lambda: key in service_health(platform, "deployments")["deployments"],
                "the deployment runs",
            )
            await until(lambda: service_health(platform, "rejects")["watching"], "the gate")
            await run_line(line.config, tmp_path / "camera", parts=PARTS, line=line, plc=plc)

            async def scored() -> bool:
                table = await store.read_scalars(SignalRef(LINE, "carton-qc.state"), 0, 2**62)
                return table.num_rows >= PARTS

            await until(scored, "every image classified", 90)

            def gate_done() -> bool:
                counts = service_health(platform, "rejects")["watching"][key]
                return counts["rejected"] + counts["failed"] >= counts["requested"]

            await until(gate_done, "every reject written", 90)
            await plc.sync()  # the PLC's next cycle takes the last request
            states = await store.read_scalars(SignalRef(LINE, "carton-qc.state"), 0, 2**62)
            events = await store.read_events(0, 2**62, ref=SignalRef(LINE, "carton-qc.events"))
            alerts = await until(
                lambda: store.list_alerts(rule="carton-defect-rate"), "the defect-rate alert"
            )
            gate = service_health(platform, "rejects")["watching"][key]
            deployment = service_health(platform, "deployments")["deployments"][key]
        finally:
            await platform.stop()
        unknown = plc.unknown_rejects
    counts = line.counts
    with (tmp_path / "camera-labels.csv").open(newline="") as labels:
        truth = {int(row["part_id"]): row["class"] for row in csv.DictReader(labels)}
    classified = [e for e in events if e.kind == "classified"]
    by_part = {int(e.attributes["part_id"]): e for e in classified}
    # every image once: one stored state per image, one classified event per part
    ts = states.column("ts").cast("int64").to_numpy()
    assert ts.size == PARTS == len(np.unique(ts)) == len(classified) == len(by_part)
    assert set(by_part) == set(truth)
    # rejects: exactly the parts the platform classified defective, each fired at the gate
    defective = {p for p, e in by_part.items() if e.attributes["outcome"] == "defective"}
    rejected = {int(e.attributes["part_id"]) for e in events if e.kind == "rejected"}
    assert rejected == defective
    assert gate["rejected"] == len(defective) and gate["failed"] == 0
    assert counts.rejected == len(defective) and unknown == 0
    right = sum(truth[p] != "good" for p in defective)
    assert counts.rejected_defective == right
    assert counts.rejected_good == len(defective) - right
    # the defect-rate alert
    assert alerts and alerts[0].asset == LINE and alerts[0].severity == "alarm"
    # accuracy against the ground truth (the uncertain parts went to review)
    sure = [p for p, e in by_part.items() if e.attributes["outcome"] != "uncertain"]
    accuracy = sum(by_part[p].attributes["class"] == truth[p] for p in sure) / len(sure)
    good_vs_defect = sum(
        (by_part[p].attributes["outcome"] == "defective") == (truth[p] != "good") for p in sure
    ) / len(sure)
    always_good = sum(truth[p] == "good" for p in sure) / len(sure)
    report = {
        "parts": PARTS,
        "defective_truth": counts.defective,
        "classified_defective": len(defective),
        "uncertain_review": gate["review"],
        "rejected_right": counts.rejected_defective,
        "rejected_good": counts.rejected_good,
        "escaped": counts.defective - counts.rejected_defective,
        "accuracy_classes": round(accuracy, 3),
        "accuracy_good_vs_defect": round(good_vs_defect, 3),
        "always_good_baseline": round(always_good, 3),
        "train_fit_s": round(fit_s, 1),
        "latency_ms_last": deployment["images"]["last_latency_ms"],
    }
    print(json.dumps(report))
    assert good_vs_defect > always_good
