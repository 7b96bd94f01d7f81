"""A platform in its own process for the kill -9 test of image deployments.

``python -m tests.runtime.image_feeder FOLDER feed`` runs the project's platform (with the
test image model type) and publishes part images as a camera connector would, printing
how many images the deployment ``carton`` classified; the test kills it with SIGKILL.
``... FOLDER resume`` runs it without new images until ``carton`` has classified up to
the last image the store holds, then stops cleanly.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from shopfloor.config import load_project
from shopfloor.ml.base import MODEL_TYPES
from shopfloor.model import NS_PER_S, SignalRef, format_ns, now_ns, topic_for
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from tests.runtime.image_models import Brightness
from tests.runtime.test_image_deployments import CAM, STEP, parts


def _classified(platform: Platform) -> tuple[int, str | None]:
    """Images ``carton`` classified, and the last one's time (from the health)."""
    for service in platform.services:
        if service.name == "deployments":
            entry = service.health()["deployments"].get(f"carton on {CAM}", {})
            return int(entry.get("windows", 0)), entry.get("last_window")
    return 0, None


async def main(folder: Path, mode: str) -> None:
    MODEL_TYPES[Brightness.model_type] = Brightness
    project = load_project(folder)
    platform = Platform.from_project(project, services=project_services(project))
    await platform.start()
    if mode == "feed":
        t, n = now_ns() + NS_PER_S, 1
        while True:
            (record,) = parts(t, n, 1)
            await platform.bus.publish(topic_for(record.signal), record)
            t, n = t + STEP, n + 1
            await asyncio.sleep(0.01)
            print(f"images {_classified(platform)[0]}", flush=True)
    span = await platform.store.time_range(SignalRef(CAM, "camera"))
    assert span is not None
    async with asyncio.timeout(60):
        while _classified(platform)[1] != format_ns(span[1]):
            await asyncio.sleep(0.05)
    print(f"resumed {_classified(platform)[0]}", flush=True)
    await platform.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
