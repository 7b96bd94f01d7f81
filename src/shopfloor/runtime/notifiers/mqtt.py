"""MQTT notifier: a publish of the alert as JSON, over aiomqtt.

One connection is kept between notifications; a failed publish drops it, and the next
attempt connects again (the dispatcher retries with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import aiomqtt

from shopfloor.errors import NotificationRefused, NotifierError
from shopfloor.runtime.notifiers.base import Notification

if TYPE_CHECKING:
    from shopfloor.runtime.notifiers.config import MqttNotifierConfig

__all__ = ["MqttNotifier"]

# CONNACK codes that mean the broker will not take these credentials (MQTT 3.1.1 and 5)
_REFUSED = {4, 5, 134, 135}


class MqttNotifier:
    """Publishes each notification to the topic of ``config``."""

    def __init__(self, config: MqttNotifierConfig) -> None:
        self.name = config.name
        self.target = f"mqtt://{config.host}:{config.port}/{config.topic}"
        self._config = config
        self._stack: AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None

    def topic(self, notification: Notification) -> str:
        """The topic template filled in with the notification's fields."""
        return self._config.topic.format(
            asset=notification.asset,
            rule=notification.rule,
            severity=notification.severity,
            state=notification.state,
        )

    async def _connected(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        c = self._config
        client = aiomqtt.Client(
            c.host,
            c.port,
            username=c.username,
            password=c.password.get_secret_value() if c.password is not None else None,
            tls_context=ssl.create_default_context() if c.tls else None,
            timeout=c.timeout_s,
            identifier=f"shopfloor-notifier-{c.name}",
        )
        stack = AsyncExitStack()
        try:
            async with asyncio.timeout(c.timeout_s):
                self._client = await stack.enter_async_context(client)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self._client

    async def send(self, notification: Notification) -> None:
        """Publish once (QoS as configured; with QoS ≥ 1 the broker has acknowledged it)."""
        try:
            client = await self._connected()
            await client.publish(
                self.topic(notification),
                notification.to_json(),
                qos=self._config.qos,
                retain=self._config.retain,
                timeout=self._config.timeout_s,
            )
        except (aiomqtt.MqttError, OSError, TimeoutError) as err:
            await self.close()
            reason = f"mqtt {self.name!r}: publish to {self.target} failed: {err!r}"
            if isinstance(err, aiomqtt.MqttCodeError) and err.rc in _REFUSED:
                raise NotificationRefused(f"{reason}; credentials refused") from err
            raise NotifierError(reason) from err

    async def close(self) -> None:
        """Disconnect."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):  # it was already gone
                await stack.aclose()
