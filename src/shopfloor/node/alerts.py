"""The project's alert rules and notifiers, assembled into the platform's alert engine."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from shopfloor.config import Project
from shopfloor.model import DeadLetter
from shopfloor.node.pending import PendingService
from shopfloor.runtime.alerts import AlertEngine
from shopfloor.runtime.notifiers import Notification, NotificationDispatcher
from shopfloor.store.protocol import AlertStore

if TYPE_CHECKING:
    from shopfloor.node.platform import Platform

__all__ = ["PendingAlerts", "alert_service"]

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
    return AlertEngine(project.config.alert_rules, platform.bus, store, dispatcher)
