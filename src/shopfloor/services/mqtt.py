"""Look into what devices publish on an MQTT broker before connecting them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from shopfloor.config import environment
from shopfloor.connectors.mqtt.connection import MqttBrokerSettings, MqttTls, open_client
from shopfloor.connectors.mqtt.listen import Listened, export_signals
from shopfloor.connectors.mqtt.topics import TopicPattern
from shopfloor.errors import ConfigError
from shopfloor.model import validate_segment
from shopfloor.services.addresses import split_host_port
from shopfloor.services.options import ListenOptions

__all__ = ["ListenOptions", "broker_address", "check_listen", "export_listen", "listen"]


def broker_address(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST[:PORT]`` or ``mqtt://HOST[:PORT]`` (port 1883 if none).

    >>> broker_address("10.0.0.5"), broker_address("mqtt://broker:1884"), broker_address("[::1]")
    (('10.0.0.5', 1883), ('broker', 1884), ('::1', 1883))
    """
    rest = text.strip().removeprefix("mqtt://").removeprefix("mqtts://").rstrip("/")
    return split_host_port(rest, default_port=1883, what="--broker")


def check_listen(options: ListenOptions) -> tuple[MqttBrokerSettings, list[str]]:
    """The broker settings and subscription filters of ``options``.

    Raises
    ------
    ConfigError
        Naming the option (``--topic``, ``--broker``, ``--export`` …) and what is wrong.
    """
    host, port = broker_address(options.broker)
    if not options.topic:
        raise ConfigError("--topic: give at least one topic filter (e.g. 'plant/#')")
    filters = []
    for topic in options.topic:
        try:
            filters.append(TopicPattern.parse(topic).filter)
        except ValueError as err:
            raise ConfigError(f"--topic {topic!r}: {err}") from None
    if options.export is not None and options.export.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"--export {options.export}: use a .yaml file name")
    try:
        validate_segment(options.connector, what="--connector")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if options.password_env is not None and options.username is None:
        raise ConfigError("--password-env needs --username")
    tls = None
    if options.tls or options.ca_file is not None or options.insecure:
        ca = None if options.ca_file is None else str(options.ca_file)
        tls = MqttTls(ca_file=ca, insecure=options.insecure)
    settings = MqttBrokerSettings(
        host=host,
        port=port,
        tls=tls,
        username=options.username,
        password_env=options.password_env,
        persistent_session=False,
        timeout_s=options.timeout_s,
    )
    return settings, filters


async def listen(options: ListenOptions) -> tuple[Listened, float]:
    """Subscribe, take in what comes for ``options.seconds``; what was seen, and how long.

    Raises
    ------
    ConfigError
        The options are wrong.
    ConnectorError
        The broker cannot be reached, refuses the credentials or the subscription.
    """
    settings, filters = check_listen(options)
    listened = Listened()
    async with open_client(settings, env=environment(), root=Path.cwd()) as client:
        await client.subscribe([(f, 1) for f in filters], timeout=settings.timeout_s)
        started = time.monotonic()
        count = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(options.seconds):
                async for message in client.messages:
                    payload = message.payload
                    data = payload if isinstance(payload, bytes) else str(payload).encode()
                    listened.add(message.topic.value, data, time.time_ns())
                    count += 1
                    if count >= options.max_messages:
                        break
        return listened, time.monotonic() - started


def export_listen(listened: Listened, options: ListenOptions, seconds: float) -> int:
    """Write what was seen to ``options.export`` as config; how many signals it holds."""
    assert options.export is not None
    host, port = broker_address(options.broker)
    note = f" ({', '.join(options.topic)}, {seconds:.0f} s)"
    text, count = export_signals(listened, options.connector, host, port, note=note)
    options.export.write_text(text, encoding="utf-8")
    return count
