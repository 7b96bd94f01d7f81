"""Notifiers against real receivers on loopback: an HTTP server, mosquitto, an SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import TypeAdapter, ValidationError

from shopfloor.errors import NotificationRefused, NotifierError
from shopfloor.retry import RetryPolicy
from shopfloor.runtime.notifiers import Notification, NotificationDispatcher, NotifierConfig
from shopfloor.runtime.notifiers.dispatcher import build_notifier
from shopfloor.runtime.notifiers.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.receivers import MOSQUITTO, Mailbox, Receiver, free_port

FAST = RetryPolicy(initial_s=0.01, max_s=0.05, jitter=0.0)
CONFIG: TypeAdapter[Any] = TypeAdapter(NotifierConfig)


def note(severity: str = "alarm", state: str = "open") -> Notification:
    return Notification(
        alert_id="a-1",
        rule="bearing-wear",
        asset="acme/plant1/machining/cell2/cnc-01",
        severity=severity,
        state=state,
        message="spindle health index 12 below 30",
        at_ns=1_700_000_000_000_000_000,
        value=12.0,
        signal="acme/plant1/machining/cell2/cnc-01/health_index",
    )


# -- webhook (the receiver: the webhook_receiver fixture of tests/conftest.py) ------------


def webhook(url: str, **extra: Any) -> Any:
    return CONFIG.validate_python({"type": "webhook", "name": "ops", "url": url, **extra})


async def test_webhook_posts_signed_json(webhook_receiver: Receiver) -> None:
    notifier = build_notifier(webhook(webhook_receiver.url, secret="s3cret"))
    await notifier.send(note())
    await notifier.close()
    headers, body = webhook_receiver.bodies[0]
    assert json.loads(body)["rule"] == "bearing-wear"
    assert json.loads(body)["at"].startswith("2023-11-14T22:13:20")
    expected = hmac.new(
        b"s3cret", headers[TIMESTAMP_HEADER].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"


async def test_webhook_5xx_is_retried_and_4xx_refused(webhook_receiver: Receiver) -> None:
    webhook_receiver.statuses[:] = [503, 429, 200, 400]
    failed: list[tuple[str, str]] = []
    dispatcher = NotificationDispatcher.from_configs(
        [webhook(webhook_receiver.url)],
        FAST,
        on_failed=lambda n, name, why: failed.append((name, why)),
    )
    await dispatcher.start()
    dispatcher.notify(note())
    assert await dispatcher.drain(5.0)
    assert len(webhook_receiver.bodies) == 3 and dispatcher.health()["ops"]["sent"] == 1
    dispatcher.notify(note(state="resolved"))  # answered 400: refused at once, not retried
    assert await dispatcher.drain(5.0)
    await dispatcher.close()
    health = dispatcher.health()["ops"]
    assert len(webhook_receiver.bodies) == 4
    assert health["state"] == "failed" and health["failed"] == 1
    assert "answered 400" in (health["last_error"] or "")
    assert failed == [("ops", health["last_error"])]


async def test_unreachable_webhook_is_given_up_after_its_attempts() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    failed: list[str] = []
    dispatcher = NotificationDispatcher.from_configs(
        [webhook(url, attempts=3, timeout_s=1.0)],
        FAST,
        on_failed=lambda n, _, why: failed.append(why),
    )
    await dispatcher.start()
    dispatcher.notify(note())
    assert await dispatcher.drain(10.0)
    await dispatcher.close()
    assert dispatcher.health()["ops"]["failed"] == 1
    assert len(failed) == 1 and url in failed[0]


async def test_notify_never_waits_and_overflow_is_reported(webhook_receiver: Receiver) -> None:
    failed: list[str] = []
    dispatcher = NotificationDispatcher.from_configs(
        [webhook(webhook_receiver.url)],
        FAST,
        queue_size=2,
        on_failed=lambda n, _, why: failed.append(why),
    )
    for _ in range(5):  # not started: nothing is delivered, and notify still returns at once
        dispatcher.notify(note())
    assert dispatcher.health()["ops"]["overflowed"] == 3 and len(failed) == 3
    await dispatcher.start()
    await dispatcher.close()
    assert len(webhook_receiver.bodies) == 2


async def test_severity_filter(webhook_receiver: Receiver) -> None:
    dispatcher = NotificationDispatcher.from_configs(
        [webhook(webhook_receiver.url, min_severity="alarm")], FAST
    )
    await dispatcher.start()
    dispatcher.notify(note(severity="warning"))
    dispatcher.notify(note(severity="critical"))
    await dispatcher.close()
    assert [json.loads(b)["severity"] for _, b in webhook_receiver.bodies] == ["critical"]


async def test_close_gives_up_what_it_cannot_deliver_in_time() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    failed: list[str] = []
    dispatcher = NotificationDispatcher.from_configs(
        [webhook(url, attempts=100)],
        RetryPolicy(initial_s=1.0, max_s=1.0, jitter=0.0),
        on_failed=lambda n, _, why: failed.append(why),
    )
    await dispatcher.start()
    dispatcher.notify(note())
    dispatcher.notify(note(state="resolved"))
    await dispatcher.close(drain_timeout_s=0.2)
    assert dispatcher.health()["ops"]["failed"] == 1  # the one still queued
    assert failed == ["the platform stopped first"]


# -- MQTT --------------------------------------------------------------------------------------


def mqtt(port: int, **extra: Any) -> Any:
    return CONFIG.validate_python({"type": "mqtt", "name": "uns", "port": port, **extra})


@pytest.mark.integration
async def test_mqtt_publishes_to_the_asset_topic(broker: int) -> None:
    notifier = build_notifier(mqtt(broker))
    async with aiomqtt.Client("127.0.0.1", broker) as sub:
        await sub.subscribe("shopfloor/v1/alerts/#", qos=1)
        await notifier.send(note())
        async with asyncio.timeout(5):
            message = await anext(aiter(sub.messages))
    await notifier.close()
    assert (
        str(message.topic) == "shopfloor/v1/alerts/acme/plant1/machining/cell2/cnc-01/bearing-wear"
    )
    assert isinstance(message.payload, bytes)
    assert json.loads(message.payload)["state"] == "open"


@pytest.mark.integration
async def test_mqtt_broker_down_is_retried_until_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    dispatcher = NotificationDispatcher.from_configs(
        [mqtt(port, attempts=50, timeout_s=1.0)], RetryPolicy(initial_s=0.1, max_s=0.2)
    )
    await dispatcher.start()
    dispatcher.notify(note())
    async with asyncio.timeout(5):
        while dispatcher.health()["uns"]["state"] != "retrying":
            await asyncio.sleep(0.02)
    assert "failed" in (dispatcher.health()["uns"]["last_error"] or "")
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = await asyncio.create_subprocess_exec(
        MOSQUITTO, "-c", str(conf), stderr=asyncio.subprocess.DEVNULL
    )
    try:
        assert await dispatcher.drain(15.0)
        health = dispatcher.health()["uns"]
        assert health["sent"] == 1 and health["state"] == "ok"
    finally:
        await dispatcher.close()
        proc.terminate()
        await proc.wait()


# -- email -------------------------------------------------------------------------------------


def email(port: int, **extra: Any) -> Any:
    return CONFIG.validate_python(
        {
            "type": "email",
            "name": "maintenance",
            "host": "127.0.0.1",
            "port": port,
            "sender": "shopfloor@plant.example",
            "to": ["maint@plant.example"],
            "security": "none",
            **extra,
        }
    )


@pytest.mark.integration
async def test_email_reaches_the_smtp_server(smtp: tuple[int, Mailbox]) -> None:
    port, box = smtp
    notifier = build_notifier(email(port))
    await notifier.send(note())
    await notifier.close()
    message = message_from_bytes(box.messages[0])
    assert message["Subject"] == "[alarm] bearing-wear on acme/plant1/machining/cell2/cnc-01: open"
    assert message["To"] == "maint@plant.example"
    assert "health index 12 below 30" in message.get_payload()


@pytest.mark.integration
async def test_a_long_subject_arrives_unchanged(smtp: tuple[int, Mailbox]) -> None:
    port, box = smtp
    long = replace(note(), rule="spindle-alarm", asset="acme/plant1/machining/line1/cell1/cnc-01")
    notifier = build_notifier(email(port))
    await notifier.send(long)
    await notifier.close()
    assert message_from_bytes(box.messages[0], policy=policy.default)["Subject"] == long.subject


async def test_email_to_a_closed_port_is_a_retryable_error() -> None:
    notifier = build_notifier(email(free_port(), timeout_s=2.0))
    with pytest.raises(NotifierError) as caught:
        await notifier.send(note())
    assert not isinstance(caught.value, NotificationRefused)
    assert "maintenance" in str(caught.value)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"type": "webhook", "name": "a", "url": "ftp://x"}, "http:// or https://"),
        ({"type": "mqtt", "name": "a", "topic": "alerts/{machine}"}, "{machine}"),
        ({"type": "mqtt", "name": "a", "topic": "alerts/#"}, "wildcard"),
        (
            {"type": "email", "name": "a", "host": "h", "sender": "x", "to": ["m@x"]},
            "not an email address",
        ),
        ({"type": "pager", "name": "a"}, "pager"),
        ({"type": "webhook", "name": "a", "url": "http://x", "retries": 3}, "retries"),
    ],
)
def test_bad_configuration_names_the_field(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CONFIG.validate_python(entry)
    assert words in str(caught.value)


def test_secrets_stay_out_of_repr() -> None:
    config = webhook("http://127.0.0.1/x", secret="s3cret")
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())


def test_a_notification_with_an_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severity must be one of"):
        note(severity="urgent")
