"""What both use cases of the demo share: the reporter, their outcome, the project file.

Each use case (:mod:`.cnc`, :mod:`.packaging`) adds its entries to the sections of one
``factory.yaml`` (:func:`add_items`), runs as stages on the one platform, and ends in a
:class:`UseCaseOutcome`: its figures and the checks ``shopfloor demo --headless`` passes
or fails on (:mod:`.summary` puts them side by side).
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from shopfloor.services.deployments import deploy

if TYPE_CHECKING:
    from shopfloor.node import Platform

__all__ = [
    "Check",
    "DemoReporter",
    "UseCaseOutcome",
    "add_items",
    "deploy_active",
    "deployment_health",
    "free_port",
    "until",
]


class DemoReporter(Protocol):
    """What the demo tells as it runs (the CLI prints it; a test may just collect it)."""

    def section(self, title: str) -> None:
        """A use case begins."""

    def step(self, text: str) -> None:
        """A step is done (one or more lines)."""

    def phase(self, label: str, total: float) -> None:
        """A phase of ``total`` units (machine seconds, parts) begins."""

    def progress(self, done: float, info: str, *, alarm: bool = False) -> None:
        """Units done in the current phase, with a status line."""

    def phase_done(self) -> None:
        """The current phase ended."""


@dataclass(frozen=True)
class Check:
    """One thing a use case must show, whether it did, and what was seen."""

    name: str
    ok: bool
    seen: str


@dataclass
class UseCaseOutcome:
    """How one use case went: the figures of the summary table and its checks.

    ``available`` is false when the use case could not run at all on this installation
    (``reason`` says what is missing); its checks then fail.
    """

    title: str
    available: bool = True
    reason: str = ""
    first_alert_wall_s: float | None = None
    detection_delay_s: float | None = None
    false_alarms: int | None = None
    accuracy: float | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Ran, with every check met."""
        return self.available and bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> list[Check]:
        """The checks not met (one naming the reason when the use case could not run)."""
        if not self.available:
            return [Check(f"{self.title} ran", False, self.reason)]
        return [c for c in self.checks if not c.ok]


def add_items(text: str, section: str, items: str) -> str:
    """Add YAML list ``items`` (indented ``  - ...`` lines) to top-level ``section``.

    The section is either an empty flow list (``models: []``), which becomes a block
    list, or a block list, which the items join at its head; a section ``text`` lacks
    is added at its end.
    """
    items = items.rstrip("\n")
    empty = re.compile(rf"^{re.escape(section)}: \[\][^\n]*$", re.MULTILINE)
    if empty.search(text):
        return empty.sub(lambda _: f"{section}:\n{items}", text, count=1)
    block = re.compile(rf"^{re.escape(section)}:[ \t]*(#[^\n]*)?$", re.MULTILINE)
    found = block.search(text)
    if found is None:
        return f"{text.rstrip()}\n\n{section}:\n{items}\n"
    return text[: found.end()] + "\n" + items + text[found.end() :]


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(
    ready: Callable[[], Awaitable[bool]], *, timeout_s: float, every_s: float = 0.2
) -> bool:
    """Poll ``ready`` until it is true (``True``) or ``timeout_s`` passed (``False``)."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:  # what is polled tells no one when it changes
                if await ready():
                    return True
                await asyncio.sleep(every_s)
    except TimeoutError:
        return False


def deployment_health(platform: Platform, name: str, asset: str) -> dict[str, Any]:
    """The deployment runtime's health of deployment ``name`` on ``asset`` (``{}``: none)."""
    for service in platform.services:
        if service.name == "deployments":
            entry = service.health()["deployments"].get(f"{name} on {asset}")
            return dict(entry) if entry else {}
    return {}


async def deploy_active(
    platform: Platform, model: str, version: int, asset: str, *, reason: str
) -> int:
    """Deploy ``model@version`` active on ``asset`` and wait until the runtime runs it.

    What ``shopfloor deploy`` does; returns when it was deployed (UTC nanoseconds).

    Raises
    ------
    ShopfloorError
        When the deployment is refused.
    TimeoutError
        When the runtime does not run it within 30 s.
    """
    changes = await deploy(
        platform.project,
        platform.store,
        f"{model}@{version}",
        assets=[asset],
        mode="active",
        name=None,
        who="demo",
        reason=reason,
    )
    async with asyncio.timeout(30.0):
        while True:  # the runtime tells no one; it reads the store every reconcile_s
            if deployment_health(platform, model, asset):
                return int(changes[0]["changed_ns"])
            await asyncio.sleep(0.1)
