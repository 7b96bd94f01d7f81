"""Sending notifications without ever holding up the one who raises the alert.

:meth:`NotificationDispatcher.notify` only queues (it never awaits, so scoring and alert
evaluation are never blocked by a slow mail server); each notifier has its own queue and
task, so a failing webhook does not delay the emails. A delivery that fails is retried
with the project's retry policy (:class:`~shopfloor.retry.RetryPolicy`) up to the
notifier's ``attempts``; one that is given up, or refused, is counted in
:meth:`~NotificationDispatcher.health` with its reason, logged, and handed to
``on_failed`` (the wiring records it as a dead letter). A full queue is counted and
reported the same way: nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from shopfloor.errors import NotificationRefused, NotifierError
from shopfloor.model import format_ns, now_ns
from shopfloor.retry import RetryPolicy
from shopfloor.runtime.notifiers.base import Notification, Notifier
from shopfloor.runtime.notifiers.config import SEVERITIES, NotifierConfig

__all__ = ["NotificationDispatcher", "build_notifier"]

log = logging.getLogger(__name__)

Failed = Callable[[Notification, str, str], None]
"""Told of a notification given up: (notification, notifier name, reason)."""


def build_notifier(config: NotifierConfig) -> Notifier:
    """The notifier a project file's entry describes."""
    if config.type == "webhook":
        from shopfloor.runtime.notifiers.webhook import WebhookNotifier

        return WebhookNotifier(config)
    if config.type == "mqtt":
        from shopfloor.runtime.notifiers.mqtt import MqttNotifier

        return MqttNotifier(config)
    from shopfloor.runtime.notifiers.email import EmailNotifier

    return EmailNotifier(config)


@dataclass
class _Route:
    notifier: Notifier
    config: NotifierConfig
    queue: asyncio.Queue[Notification]
    sent: int = 0
    failed: int = 0
    overflowed: int = 0
    retrying: bool = False
    last_error: str | None = None
    last_error_ns: int | None = None
    task: asyncio.Task[None] | None = None

    def health(self) -> dict[str, Any]:
        if self.retrying:
            state = "retrying"
        elif self.last_error is not None and self.failed + self.overflowed:
            state = "failed"
        else:
            state = "ok"
        return {
            "state": state,
            "target": self.notifier.target,
            "sent": self.sent,
            "failed": self.failed,
            "overflowed": self.overflowed,
            "pending": self.queue.qsize(),
            "last_error": self.last_error,
            "last_error_at": None if self.last_error_ns is None else format_ns(self.last_error_ns),
        }


class NotificationDispatcher:
    """Queues notifications for each notifier and delivers them in the background.

    Parameters
    ----------
    notifiers
        Pairs of a notifier and its configuration (severity filter, attempts).
    policy
        Delays between attempts.
    queue_size
        Notifications waiting per notifier before new ones are counted as overflowed.
    on_failed
        Told of each notification given up (after its attempts, refused, or overflowed).
    """

    def __init__(
        self,
        notifiers: Sequence[tuple[Notifier, NotifierConfig]],
        policy: RetryPolicy | None = None,
        *,
        queue_size: int = 1000,
        on_failed: Failed | None = None,
    ) -> None:
        self._policy = policy or RetryPolicy()
        self._routes = [_Route(n, c, asyncio.Queue(queue_size)) for n, c in notifiers]
        self._on_failed = on_failed

    @classmethod
    def from_configs(
        cls, configs: Sequence[NotifierConfig], policy: RetryPolicy | None = None, **kw: Any
    ) -> NotificationDispatcher:
        """A dispatcher over the notifiers the project file lists."""
        return cls([(build_notifier(c), c) for c in configs], policy, **kw)

    async def start(self) -> None:
        """Start one delivery task per notifier."""
        for route in self._routes:
            if route.task is None:
                route.task = asyncio.create_task(
                    self._deliver(route), name=f"notifier:{route.notifier.name}"
                )

    def notify(self, notification: Notification, *, only: Collection[str] | None = None) -> None:
        """Queue ``notification`` for every notifier whose severity filter lets it through.

        ``only`` limits it to the notifiers of those names (``None``: all). Never waits. A
        full queue counts the notification as overflowed (in health, in the log and
        through ``on_failed``).
        """
        rank = SEVERITIES.index(notification.severity)
        for route in self._routes:
            if only is not None and route.notifier.name not in only:
                continue
            if rank < SEVERITIES.index(route.config.min_severity):
                continue
            try:
                route.queue.put_nowait(notification)
            except asyncio.QueueFull:
                route.overflowed += 1
                self._give_up(route, notification, f"{route.queue.maxsize} notifications queued")

    async def _deliver(self, route: _Route) -> None:
        from tenacity import retry_if_exception_type, retry_if_not_exception_type

        retry = retry_if_exception_type(NotifierError) & retry_if_not_exception_type(
            NotificationRefused
        )

        def failed_once(state: Any) -> None:
            route.retrying = True
            error = state.outcome.exception() if state.outcome is not None else None
            route.last_error, route.last_error_ns = str(error), now_ns()
            log.warning(
                "notifier.retry name=%s attempt=%d error=%s",
                route.notifier.name,
                state.attempt_number,
                error,
            )

        while True:
            notification = await route.queue.get()
            try:
                async for attempt in self._policy.retrying(
                    retry, before_sleep=failed_once, attempts=route.config.attempts
                ):
                    with attempt:
                        async with asyncio.timeout(route.config.timeout_s * 2):
                            await route.notifier.send(notification)
                route.sent += 1
                if route.retrying:
                    log.info("notifier.recovered name=%s", route.notifier.name)
                route.retrying = False
            except (NotifierError, TimeoutError) as err:
                route.retrying = False
                route.failed += 1
                self._give_up(route, notification, str(err) or "timed out")
            finally:
                route.queue.task_done()

    def _give_up(self, route: _Route, notification: Notification, reason: str) -> None:
        route.last_error, route.last_error_ns = reason, now_ns()
        log.error(
            "notifier.gave_up name=%s alert=%s state=%s reason=%s",
            route.notifier.name,
            notification.alert_id,
            notification.state,
            reason,
        )
        if self._on_failed is not None:
            self._on_failed(notification, route.notifier.name, reason)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every queued notification was delivered or given up; ``False`` on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                for route in self._routes:
                    await route.queue.join()
        except TimeoutError:
            return False
        return True

    async def close(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is queued (for up to ``drain_timeout_s``), then stop and disconnect.

        What is still queued then is given up with that reason, never dropped silently.
        """
        await self.drain(drain_timeout_s)
        for route in self._routes:
            if route.task is not None:
                route.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await route.task
                route.task = None
            while not route.queue.empty():
                route.failed += 1
                self._give_up(route, route.queue.get_nowait(), "the platform stopped first")
            await route.notifier.close()

    def health(self) -> dict[str, dict[str, Any]]:
        """Per notifier: state (ok, retrying, failed), counts, pending and the last error."""
        return {route.notifier.name: route.health() for route in self._routes}
