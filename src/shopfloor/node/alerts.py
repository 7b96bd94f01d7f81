"""Alert rules, notifiers, write-back and reject gates, assembled into platform services.

The alert engine and the reject gates share one write-back service.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from shopfloor.config import Project
from shopfloor.connectors.engine import ConnectorEngine
from shopfloor.model import DeadLetter
from shopfloor.node.pending import PendingService
from shopfloor.runtime.alerts import AlertEngine
from shopfloor.runtime.notifiers import Notification, NotificationDispatcher
from shopfloor.runtime.writeback import ConnectorWriter, WritebackService
from shopfloor.runtime.writeback.rejects import RejectGate
from shopfloor.store.protocol import AlertStore

if TYPE_CHECKING:
    from shopfloor.node.platform import Platform

__all__ = ["PendingAlerts", "alert_service", "reject_service", "writeback_service"]

log = logging.getLogger(__name__)


class PendingAlerts(PendingService):
    """The alert engine when it cannot run (the store keeps no alerts); says why in health."""

    def __init__(self, reason: str) -> None:
        super().__init__("alerts", reason)


def alert_service(project: Project, platform: Platform) -> AlertEngine | PendingAlerts:
    """The alert engine over the platform's bus and store, telling the project's notifiers.

    A notification the dispatcher gives up is kept as a dead letter (source
    ``notifier:<name>``), so nothing is lost silently.
    """
    store = platform.store
    if not isinstance(store, AlertStore):
        return PendingAlerts(f"the store ({type(store).__name__}) does not keep alerts")
    pending: set[asyncio.Task[None]] = set()

    def failed(notification: Notification, notifier: str, reason: str) -> None:
        letter = DeadLetter(
            source=f"notifier:{notifier}",
            location=f"alert {notification.alert_id} ({notification.rule})",
            reason=reason,
            payload=json.dumps(notification.as_dict(), sort_keys=True),
        )
        task = asyncio.get_running_loop().create_task(store_letter(letter))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def store_letter(letter: DeadLetter) -> None:
        try:
            await platform.store.write_dead_letters([letter])
        except Exception as err:  # the dispatcher's health and log already tell
            log.error("alerts.dead_letter_failed error=%s", err)

    dispatcher = NotificationDispatcher.from_configs(project.config.notifiers, on_failed=failed)
    return AlertEngine(
        project.config.alert_rules,
        platform.bus,
        store,
        dispatcher,
        writeback=writeback_service(project, platform),
    )


def reject_service(project: Project, platform: Platform) -> RejectGate:
    """The reject gates of the project, writing through the alert engine's write-back.

    One :class:`~shopfloor.runtime.writeback.WritebackService` per platform: its targets
    are paced as one, whether an alert or a reject asks.
    """
    engine = next((s for s in platform.services if isinstance(s, AlertEngine)), None)
    writeback = None if engine is None else engine.writeback
    if writeback is None:
        writeback = writeback_service(project, platform)
    assert writeback is not None  # the project has rejects
    return RejectGate(project.config.rejects, platform.bus, writeback)


def writeback_service(project: Project, platform: Platform) -> WritebackService | None:
    """Write-back over the platform's running connectors (``None`` when nothing writes).

    Each allow-listed connector is written through its own session in the platform's
    connector engine, found when a write is due: the alert engine starts before the
    connectors, and a connector that is down makes the write wait and retry.
    """
    rules = any(rule.writeback for rule in project.config.alert_rules)
    if not rules and not project.config.rejects:
        return None

    def connected(name: str) -> object | None:
        for service in platform.services:
            if isinstance(service, ConnectorEngine):
                return service.connected(name)
        return None

    allow = project.config.writeback
    writers = {entry.connector: ConnectorWriter(entry.connector, connected) for entry in allow}
    return WritebackService(allow, writers)
