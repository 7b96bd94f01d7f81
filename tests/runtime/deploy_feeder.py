"""A platform in its own process for the kill -9 test of deployments.

``python -m tests.runtime.deploy_feeder FOLDER feed`` runs the project's platform and
publishes 100 ms blocks of ``vib`` as a connector would, printing how many windows the
deployment ``vib`` scored; the test kills it with SIGKILL. ``... FOLDER resume`` runs it
without new data until the deployment has scored up to the last block the store holds,
then stops cleanly.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from shopfloor.config import load_project
from shopfloor.model import NS_PER_S, SignalRef, format_ns, now_ns, topic_for
from shopfloor.node import Platform
from shopfloor.node.services import project_services
from tests.runtime.test_deployments import HOP, M1, block


def _windows(platform: Platform) -> tuple[int, str | None]:
    """Windows the deployment ``vib`` scored, and its last window (from the health)."""
    for service in platform.services:
        if service.name == "deployments":
            entry = service.health()["deployments"].get(f"vib on {M1}", {})
            return int(entry.get("windows", 0)), entry.get("last_window")
    return 0, None


async def main(folder: Path, mode: str) -> None:
    project = load_project(folder)
    platform = Platform.from_project(project, services=project_services(project))
    await platform.start()
    if mode == "feed":
        t = (now_ns() // NS_PER_S + 1) * NS_PER_S
        while True:
            b = block(M1, t)
            await platform.bus.publish(topic_for(b.signal), b)
            t += HOP
            await asyncio.sleep(0.01)
            print(f"windows {_windows(platform)[0]}", flush=True)
    span = await platform.store.time_range(SignalRef(M1, "vib"))
    assert span is not None
    async with asyncio.timeout(60):
        while _windows(platform)[1] != format_ns(span[1]):
            await asyncio.sleep(0.05)
    print(f"resumed {_windows(platform)[0]}", flush=True)
    await platform.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
