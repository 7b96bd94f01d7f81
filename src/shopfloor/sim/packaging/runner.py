"""Running the line in real time: a part every ``1 / speed`` seconds to its camera's output."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from shopfloor.sim.packaging.line import (
    HotFolderWriter,
    PackagingLine,
    PackagingSimConfig,
    PartWriter,
)
from shopfloor.sim.packaging.plc import PackagingPlc

__all__ = ["run_line"]

log = logging.getLogger(__name__)


async def run_line(
    config: PackagingSimConfig,
    folder: Path,
    *,
    duration_s: float | None = None,
    parts: int | None = None,
    partial: bool = False,
    stop: asyncio.Event | None = None,
    on_part: Callable[[int, str], None] | None = None,
    line: PackagingLine | None = None,
    plc: PackagingPlc | None = None,
    writer: PartWriter | None = None,
) -> PackagingLine:
    """Produce parts at the line speed until ``duration_s``, ``parts`` or ``stop``.

    A part that cannot be written in its slot is not skipped: the line falls behind and
    logs it once (the camera's folder is slower than the line), rather than lose images.
    With ``plc`` (started by the caller, on the same ``line``), its counts and reject
    gate follow every part. ``writer`` (default: a hot folder at ``folder``) is where the
    images go, e.g. an MQTT topic (:class:`~shopfloor.sim.packaging.publish.MqttCamera`).
    """
    line = line or PackagingLine(config)
    writer = writer or HotFolderWriter(folder, partial=partial)
    period_s = 1.0 / config.speed_parts_s
    started = time.monotonic()
    behind_logged = False
    try:
        while True:
            n = line.counts.produced
            if parts is not None and n >= parts:
                break
            if duration_s is not None and n * period_s >= duration_s:
                break
            if stop is not None and stop.is_set():
                break
            delay = started + n * period_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0 and not behind_logged:
                log.warning("packaging.behind seconds=%.1f folder=%s", -delay, folder)
                behind_logged = True
            part = line.next_part()
            await writer.write(part, config.image_format)
            if plc is not None:
                await plc.sync(part.part_id)
            if on_part is not None:
                on_part(part.part_id, part.defect)
    finally:
        writer.close()
    return line
