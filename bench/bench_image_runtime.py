"""Benchmark of an image deployment in the runtime: images/s and latency per image.

Run alone from the repository root::

    .venv/bin/python -m bench.bench_image_runtime [--size 64] [--images 400]

(``make bench`` runs it at 128×128 with 300 images: :func:`run`.)

A ``classical`` model is trained with the ``train --images`` service on 240 simulated
cartons of the packaging line (class folders), deployed active on a camera asset of an
embedded platform (one scoring worker), and ``--images`` other simulated cartons are
published on its bus at once, as a hot folder emits a backlog. Timed: from the first
publish until the runtime has classified the last image (its health), so the figure
includes the bus, decoding, preprocessing, the model, and publishing the outputs; and the
``latency_ms`` the runtime stored per image (decode, preprocess, infer). Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import Measurement, Section
from shopfloor.config import load_project
from shopfloor.model import NS_PER_S, ImageRecord, Provenance, SignalRef, now_ns, topic_for
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from shopfloor.services import deployments as service
from shopfloor.services.image_models import train_image_model
from shopfloor.services.options import TrainOptions
from shopfloor.sim.packaging.line import PackagingLine, PackagingSimConfig, encode_image

CAMERA = "acme/plant1/packaging/line1/cell1/camera-1"
BATCH_RATES = {
    "good": 0.4,
    "dented": 0.12,
    "torn_seal": 0.12,
    "misprinted_label": 0.12,
    "contamination": 0.12,
    "misaligned_cap": 0.12,
}


async def measure(size: int, n: int) -> dict[str, Any]:
    """Train, deploy, publish ``n`` images of ``size`` pixels; the figures."""
    root = Path(tempfile.mkdtemp(prefix="bench-image-runtime-"))
    (root / "factory.yaml").write_text(
        "project: {name: bench}\nruntime: {reconcile_s: 0.1}\nassets:\n"
        f"  - path: {CAMERA}\n    signals: [{{name: camera, kind: image}}]\n"
    )
    project = load_project(root)
    batch = PackagingLine(PackagingSimConfig(seed=11, size=size, defect_rates=BATCH_RATES))
    for part in batch.parts(240):
        (root / "batch" / part.defect).mkdir(parents=True, exist_ok=True)
        (root / "batch" / part.defect / f"{part.file_name}.png").write_bytes(
            encode_image(part.image, "png")
        )
    options = TrainOptions(
        name="carton",
        images=root / "batch",
        model="classical",
        params=json.dumps({"preprocess": {"size": [size, size]}}),
        split="0.8,0.1,0.1",
    )
    card = await train_image_model(options, project, who="bench")
    platform = Platform.from_project(project, services=project_services(project))
    await platform.start()
    key = f"carton on {CAMERA}"

    def classified() -> int:
        for s in platform.services:
            if s.name == "deployments":
                return int(s.health()["deployments"].get(key, {}).get("windows", -1))
        return -1

    async def wait_for(count: int, every_s: float) -> None:
        """Poll the health (the runtime has no event to wait on) until ``count``."""
        for _ in range(round(600 / every_s)):
            if classified() >= count:
                return
            await asyncio.sleep(every_s)
        raise TimeoutError(f"fewer than {count} images classified after 600 s")

    try:
        ref = f"carton@{card['version']}"
        await service.deploy(
            project, platform.store, ref, assets=[CAMERA], mode="active", name=None, who="bench"
        )
        await wait_for(0, 0.05)
        line = PackagingLine(PackagingSimConfig(seed=5, size=size))
        t0 = now_ns() + NS_PER_S
        records = [
            ImageRecord(
                SignalRef(CAMERA, "camera"),
                t0 + i * 1000,
                encode_image(p.image, "png"),
                "png",
                (size, size, 3),
                Provenance("bench"),
                attributes={"part_id": str(p.part_id)},
            )
            for i, p in enumerate(line.parts(n))
        ]
        started = time.perf_counter()
        for record in records:
            await platform.bus.publish(topic_for(record.signal), record)
        await wait_for(n, 0.01)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1.0)  # the store sink writes the last outputs
        table = await platform.store.read_scalars(SignalRef(CAMERA, "carton.latency_ms"), 0, 2**62)
        latency = np.asarray(table.column("value").to_pylist(), dtype=np.float64)
    finally:
        await platform.stop()
    return {
        "size": size,
        "images": n,
        "seconds": round(elapsed, 2),
        "images_per_s": round(n / elapsed, 1),
        "latency_ms_p50": round(float(np.percentile(latency, 50)), 2),
        "latency_ms_p99": round(float(np.percentile(latency, 99)), 2),
        "train_seconds": card["metrics"]["train_seconds"],
    }


def run(size: int = 128, images: int = 300) -> Section:
    """The section of ``make bench``: the deployment runtime on a camera backlog."""
    m = measure_sync(size, images)
    return Section(
        title="Image deployment in the runtime",
        description=(
            f"A `classical` model trained by the `train --images` service on 240 simulated "
            f"cartons, deployed active on a camera asset of an embedded platform (one scoring "
            f"worker); {images} other {size}×{size} cartons published on its bus at once, as a "
            "hot folder emits a backlog. Images/s: from the first publish until the runtime "
            "has classified the last (bus, decode, preprocessing, model, outputs published); "
            "latency: the `latency_ms` the runtime stored per image (decode, preprocess, "
            "infer). The model alone against bare onnxruntime: the next section."
        ),
        measurements=[
            Measurement("images/s through the runtime", m["images_per_s"], "images/s"),
            Measurement("latency p50 per image (stored)", m["latency_ms_p50"], "ms"),
            Measurement("latency p99 per image (stored)", m["latency_ms_p99"], "ms"),
        ],
        notes=[f"training on 240 cartons took {m['train_seconds']:.1f} s"],
    )


def measure_sync(size: int, images: int) -> dict[str, Any]:
    """:func:`measure` from synchronous code."""
    return asyncio.run(measure(size, images))


def main() -> None:
    """Parse the options, measure, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.size, args.images))))


if __name__ == "__main__":
    main()
