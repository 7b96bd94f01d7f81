"""Run a project's platform for a while or until told to stop (``shopfloor run``, ``serve``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from shopfloor.config import Project
from shopfloor.node import ApiFactory, Platform
from shopfloor.node.services import project_services

__all__ = ["Stored", "run_platform"]


@dataclass(frozen=True)
class Stored:
    """What the platform's store sink did over a run."""

    written: int
    duplicates: int
    rejected: int

    def __str__(self) -> str:
        return (
            f"stopped: {self.written:,} values written, "
            f"{self.duplicates:,} duplicates, {self.rejected:,} rejected"
        )


async def run_platform(
    project: Project,
    *,
    api: ApiFactory | None,
    services: bool,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    started: Callable[[str], None] | None = None,
) -> Stored:
    """Start the platform, tell ``started``, run until ``stop`` is set or ``duration_s`` ends.

    Parameters
    ----------
    project
        The loaded project.
    api
        Builds the platform's HTTP API (the caller's choice: services sit below it), or
        ``None`` for none.
    services
        Whether connectors, pipelines and the other configured services run too
        (``False``: the store and the API only).
    duration_s
        Stop after this many seconds (``None``: only when ``stop`` is set).
    stop
        Set to stop the platform (on a signal, say).
    started
        Told once the platform runs, in words: what runs, where, and until when.

    Returns
    -------
    Stored
        What the store sink wrote, left as duplicates, or rejected.

    Raises
    ------
    PortInUse
        When the API's port is taken; nothing runs then.
    """
    factories = project_services(project) if services else []
    platform = Platform.from_project(project, api=api, services=factories)
    await platform.start()
    try:
        if started is not None:
            started(_running(platform, services, duration_s))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((stop or asyncio.Event()).wait(), timeout=duration_s)
        sink = (await platform.status())["store_sink"]
    finally:
        await platform.stop()
    return Stored(sink["written"], sink["duplicates"], sink["rejected"])


def _running(platform: Platform, services: bool, duration_s: float | None) -> str:
    if not services:
        return f"serving {platform.api_url} (OpenAPI: {platform.api_url}/docs)"
    until = "Ctrl-C to stop" if duration_s is None else f"stopping after {duration_s:g} s"
    return (
        f"running {platform.config.project.name}: store {platform.project.store_path}, "
        f"API {platform.api_url or 'off'}, {until}"
    )
