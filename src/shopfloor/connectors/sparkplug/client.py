"""The Sparkplug B host application connector.

Per connection: connect to the broker (:func:`~shopfloor.connectors.mqtt.connection.open_client`,
with the host's STATE ``{"online": false}`` as its will), subscribe to the groups it
follows, then publish its STATE ``{"online": true, "timestamp": ...}`` (retained, QoS 1,
Sparkplug 3.0), so edge nodes whose primary host it is publish their births. Every message
goes through :class:`~.host.HostState`; the signals a birth describes are created through
the engine (:attr:`~shopfloor.connectors.base.ConnectorContext.declare`) before their
values are handed on, dead letters go to the engine, rebirth requests to the broker.

Should its own STATE topic say offline while it runs (the will of an earlier connection,
published when the broker notices that connection is gone), it publishes online again.
A lost connection raises :class:`~shopfloor.errors.ConnectorNotReady` and the engine
reconnects; every edge node is then treated as unknown until it is born again (the
stretch in between becomes a ``gap`` event on each of its signals). :meth:`close`
publishes STATE offline before it disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from contextlib import AsyncExitStack
from typing import Any

import aiomqtt

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.mqtt.connection import broker_error, open_client
from shopfloor.connectors.sparkplug.config import SparkplugConfig
from shopfloor.connectors.sparkplug.host import HostState, Outcome
from shopfloor.errors import ConfigError, ConnectorNotReady
from shopfloor.model import now_ns

__all__ = ["SparkplugConnector", "state_payload"]

log = logging.getLogger(__name__)

_MAX_PENDING = 50_000
"""Scalar values held at most before they are handed on, whatever the flush interval."""


def state_payload(online: bool, timestamp_ms: int) -> bytes:
    """A host application's Sparkplug 3.0 STATE payload.

    Examples
    --------
    >>> state_payload(True, 1700000000000)
    b'{"online": true, "timestamp": 1700000000000}'
    """
    return json.dumps({"online": online, "timestamp": timestamp_ms}).encode()


class SparkplugConnector:
    """Follows the edge nodes of a broker as a Sparkplug B host application.

    Parameters
    ----------
    config
        A :class:`~.config.SparkplugConfig`.
    signals
        Signals the project binds to metrics (``source: <group>/<edge node>[/<device>]:
        <metric>``); every other metric gets a signal of its own when ``auto_signals``.
    context
        The engine's context.
    """

    def __init__(
        self, config: ConnectorConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        if not isinstance(config, SparkplugConfig):
            raise ConfigError(f"connector {config.name!r}: not a sparkplug configuration")
        self.name = config.name
        self.config = config
        self.context = context
        for bound in signals:
            problem = config.source_problem(bound.address, bound.options)
            if problem is not None:
                raise ConfigError(
                    f"connector {config.name!r}: signal {bound.ref.path!r}: {problem}"
                )
        self.host = HostState(
            config.name,
            config.mapping,
            signals,
            auto_signals=config.auto_signals,
            rebirth_interval_s=config.rebirth_interval_s,
        )
        self._where = f"sparkplug host {config.host_id!r} at {config.target}"
        self._client: aiomqtt.Client | None = None
        self._stack: AsyncExitStack | None = None
        self._closing: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._online_ms = 0
        self.stats = {"messages": 0, "sessions": 0, "commands": 0}

    # -- connection ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, subscribe, then announce the host online."""
        if self._closing is not None:
            await asyncio.shield(self._closing)
            self._closing = None
        config = self.config
        self._online_ms = now_ns() // 1_000_000
        will = aiomqtt.Will(
            config.state_topic, state_payload(False, self._online_ms), qos=1, retain=True
        )
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                open_client(
                    config,
                    env=self.context.env,
                    root=self.context.root,
                    client_id=f"shopfloor-{self.name}",
                    will=will,
                )
            )
            async with asyncio.timeout(config.timeout_s):
                for topic in config.subscriptions:
                    await client.subscribe(topic, qos=config.qos)
                if config.groups:  # spBv1.0/# covers it otherwise
                    await client.subscribe(config.state_topic, qos=1)
                await client.publish(
                    config.state_topic, state_payload(True, self._online_ms), qos=1, retain=True
                )
        except BaseException as err:
            await stack.aclose()
            if isinstance(err, aiomqtt.MqttError | OSError | TimeoutError):
                raise broker_error(err, self._where) from err
            raise
        self._stack, self._client = stack, client
        self.host.session_started()
        self.stats["sessions"] += 1
        log.info(
            "sparkplug.online connector=%s host_id=%s subscriptions=%s",
            self.name,
            config.host_id,
            ",".join(config.subscriptions),
        )

    async def run(self) -> None:
        """Take messages until the connection is lost (then raise ``ConnectorNotReady``)."""
        client = self._client
        if client is None:
            raise ConnectorNotReady(f"{self._where}: not connected")
        flusher = asyncio.create_task(self._flush_loop(), name=f"sparkplug-flush:{self.name}")
        try:
            async for message in client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                await self.handle(message.topic.value, data, now_ns())
                if self.host.pending_values >= _MAX_PENDING:
                    await self.flush()
        except aiomqtt.MqttError as err:
            raise broker_error(err, self._where) from err
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self.flush()
        raise ConnectorNotReady(f"{self._where}: the broker ended the session")

    async def flush(self) -> None:
        """Hand on the scalar values received since the last flush (one batch per signal)."""
        async with self._lock:
            batches = self.host.take_scalars()
        if batches:
            await self.context.emit(batches)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval_ms / 1000)
            await self.flush()

    async def handle(self, topic: str, payload: bytes, received_ns: int) -> None:
        """One message: create its signals, hand on its events and letters, send commands.

        Its scalar values wait for the next :meth:`flush`.
        """
        self.stats["messages"] += 1
        if topic == self.config.state_topic:
            await self._own_state(payload)
            return
        async with self._lock:  # no flush between a birth's values and its signals
            outcome = self.host.receive(topic, payload, received_ns)
            await self._declare(outcome)
        if outcome.letters:
            await self.context.reject(outcome.letters)
        if outcome.records:
            await self.context.emit(outcome.records)
        for command_topic, command in outcome.commands:
            await self._publish(command_topic, command)
            self.stats["commands"] += 1
            log.info("sparkplug.rebirth_requested connector=%s topic=%s", self.name, command_topic)

    async def _declare(self, outcome: Outcome) -> None:
        declare = self.context.declare
        for asset, signals in outcome.declare.items():
            if declare is None:
                continue
            try:
                await declare(asset, signals)
            except Exception as err:  # refused (a kind change) or the store is down
                log.warning(
                    "sparkplug.signals_refused connector=%s asset=%s error=%s",
                    self.name,
                    asset,
                    err,
                )
                self.host.refuse(asset, signals, f"{type(err).__name__}: {err}", outcome)

    async def _own_state(self, payload: bytes) -> None:
        """Its own STATE says offline while it runs (an earlier session's will): say online."""
        try:
            online = json.loads(payload).get("online")
        except (ValueError, AttributeError):
            online = None
        if online is not False:
            return
        log.warning(
            "sparkplug.state_corrected connector=%s topic=%s", self.name, self.config.state_topic
        )
        await self._publish(self.config.state_topic, state_payload(True, self._online_ms), True)

    async def _publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        client = self._client
        if client is None:
            return
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await client.publish(topic, payload, qos=1, retain=retain)
        except (aiomqtt.MqttError, TimeoutError) as err:
            raise broker_error(err, f"{self._where}: publishing to {topic!r}") from err

    async def close(self) -> None:
        """Announce the host offline and disconnect; safe twice and under cancellation."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._closing)

    async def _shutdown(self) -> None:
        client, stack = self._client, self._stack
        self._client = self._stack = None
        if stack is None:
            return
        try:
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await client.publish(
                            self.config.state_topic,
                            state_payload(False, self._online_ms),
                            qos=1,
                            retain=True,
                        )
        finally:
            await stack.aclose()

    # -- health -------------------------------------------------------------------------

    def details(self) -> dict[str, Any]:
        """The host's STATE topic and every edge node it follows, online or offline."""
        return {
            "host_id": self.config.host_id,
            "state_topic": self.config.state_topic,
            "subscriptions": self.config.subscriptions,
            "messages": self.stats["messages"],
            "edge_nodes": self.host.details(),
        }
