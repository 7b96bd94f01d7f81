"""Broker connections (open_client) against mosquitto on loopback: sessions, auth, TLS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest
from pydantic import ValidationError

from shopfloor.connectors.mqtt.connection import MqttBrokerSettings, MqttTls, open_client
from shopfloor.errors import ConnectorAuthError, ConnectorNotReady
from tests.connectors.mqtt_env import mosquitto_with_password, mosquitto_with_tls
from tests.receivers import free_port


async def next_payload(client: aiomqtt.Client, timeout_s: float = 5.0) -> bytes:
    async with asyncio.timeout(timeout_s):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            return message.payload
    raise AssertionError("the message stream ended")


@pytest.mark.parametrize("protocol", ["auto", "5", "3.1.1"])
async def test_persistent_session_keeps_qos1_messages_while_away(
    broker: int, protocol: str
) -> None:
    settings = MqttBrokerSettings(port=broker, protocol=protocol)
    env: dict[str, str] = {}
    async with open_client(settings, env=env, client_id="line-1") as client:
        await client.subscribe("plant/a", qos=1)
    async with open_client(settings, env=env, client_id="publisher") as publisher:
        await publisher.publish("plant/a", b"while away", qos=1)
    async with open_client(settings, env=env, client_id="line-1") as client:
        assert await next_payload(client) == b"while away"


async def test_clean_session_forgets(broker: int) -> None:
    settings = MqttBrokerSettings(port=broker, persistent_session=False)
    async with open_client(settings, env={}, client_id="line-1") as client:
        await client.subscribe("plant/a", qos=1)
    async with open_client(settings, env={}, client_id="publisher") as publisher:
        await publisher.publish("plant/a", b"lost", qos=1)
        async with open_client(settings, env={}, client_id="line-1") as client:
            await client.subscribe("plant/b", qos=1)
            await publisher.publish("plant/b", b"kept", qos=1)
            assert await next_payload(client) == b"kept"


async def test_unreachable_broker_is_not_ready() -> None:
    settings = MqttBrokerSettings(port=free_port(), timeout_s=2)
    with pytest.raises(ConnectorNotReady, match=r"mqtt://127\.0\.0\.1:\d+"):
        async with open_client(settings, env={}, client_id="x"):
            pass


async def test_password_from_env_and_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    with mosquitto_with_password(tmp_path, "line", "s3cret") as port:
        by_env = MqttBrokerSettings(port=port, username="line", password_env="PW")
        async with open_client(by_env, env={"PW": "s3cret"}, client_id="a") as client:
            await client.publish("t", b"1", qos=1)
        by_file = MqttBrokerSettings(
            port=port, username_env="USER", password_file="secret", protocol="3.1.1"
        )
        async with open_client(by_file, env={"USER": "line"}, root=tmp_path, client_id="b"):
            pass
        with pytest.raises(ConnectorAuthError, match="refused the credentials"):
            async with open_client(by_env, env={"PW": "wrong"}, client_id="c"):
                pass
        with pytest.raises(ConnectorAuthError, match="set PW"):
            async with open_client(by_env, env={}, client_id="d"):
                pass
        missing = MqttBrokerSettings(port=port, username="line", password_file="nowhere")
        with pytest.raises(ConnectorAuthError, match="nowhere"):
            async with open_client(missing, env={}, root=tmp_path, client_id="e"):
                pass


async def test_tls_verifies_the_broker(tmp_path: Path) -> None:
    with mosquitto_with_tls(tmp_path) as (port, files):
        trusted = MqttBrokerSettings(port=port, tls=MqttTls(ca_file=files.ca.name))
        async with open_client(trusted, env={}, root=tmp_path, client_id="a") as client:
            await client.publish("t", b"1", qos=1)
        untrusted = MqttBrokerSettings(port=port, tls=MqttTls())
        with pytest.raises(ConnectorAuthError, match="does not verify"):
            async with open_client(untrusted, env={}, client_id="b"):
                pass
        insecure = MqttBrokerSettings(port=port, tls=MqttTls(insecure=True))
        async with open_client(insecure, env={}, client_id="c"):
            pass
        bad = MqttBrokerSettings(port=port, tls=MqttTls(ca_file="missing.pem"))
        with pytest.raises(ConnectorAuthError, match="ca_file"):
            async with open_client(bad, env={}, root=tmp_path, client_id="d"):
                pass


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "a", "username_env": "B"}, "not both"),
        ({"password_env": "P"}, "needs username"),
        ({"username": "a", "password_env": "P", "password_file": "f"}, "not both"),
        ({"tls": {"cert_file": "c.pem"}}, "both cert_file and key_file"),
        ({"qos": 3}, "qos"),
        ({"password": "x"}, "password"),
    ],
)
def test_settings_refuse_contradictions(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttBrokerSettings.model_validate(fields)
