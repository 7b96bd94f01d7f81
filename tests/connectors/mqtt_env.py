"""Brokers and devices for the MQTT tests: mosquitto on loopback (with a password file or
TLS), a device publishing readings, and the connector's contract fixture."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.config import ReconnectPolicy
from shopfloor.connectors.mqtt.config import MqttConfig
from shopfloor.model import Signal, SignalRef
from shopfloor.testing import ConnectorFixture
from tests.receivers import mosquitto

from .opcua_env import ASSET, Proxy

__all__ = [
    "Device",
    "TlsFiles",
    "make_certificates",
    "mosquitto_with_password",
    "mosquitto_with_tls",
    "mqtt_fixture",
]


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server certificate for 127.0.0.1, signed by it (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> TlsFiles:
    """Write a fresh CA and a server certificate for 127.0.0.1 and localhost to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shopfloor test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return files


def _readable_config() -> str:
    # run as root, mosquitto drops to its own user, which cannot read pytest's tmp_path
    return "user root\n" if os.geteuid() == 0 else ""


@contextmanager
def mosquitto_with_password(folder: Path, user: str, password: str) -> Iterator[int]:
    """A broker that takes only ``user`` with ``password``; yields its port."""
    passwords = folder / "passwords"
    passwords.touch()
    subprocess.run(
        ["mosquitto_passwd", "-b", str(passwords), user, password], check=True, timeout=30
    )
    passwords.chmod(0o600)
    config = f"{_readable_config()}allow_anonymous false\npassword_file {passwords}\n"
    with mosquitto(folder, config) as port:
        yield port


@contextmanager
def mosquitto_with_tls(folder: Path) -> Iterator[tuple[int, TlsFiles]]:
    """A broker that speaks TLS only, with a certificate for 127.0.0.1; yields port and files."""
    files = make_certificates(folder)
    config = _readable_config() + (
        f"allow_anonymous true\ncafile {files.ca}\ncertfile {files.cert}\nkeyfile {files.key}\n"
    )
    with mosquitto(folder, config) as port:
        yield port, files


class Device:
    """A device on loopback publishing JSON readings (QoS 1) every ``period_s`` to the broker.

    Each reading is ``{"v": n, "ts": <epoch ns>, "q": "good"}`` on every topic of
    ``topics``; the time advances by ``period_s`` per reading, so a hole or a repeat in what
    arrives is a lost or duplicated message.
    """

    def __init__(self, port: int, topics: list[str], period_s: float = 0.1) -> None:
        self.port = port
        self.topics = topics
        self.period_s = period_s
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    async def _publish(self) -> None:
        start_ns = time.time_ns()
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="device") as client:
            while True:
                ts = start_ns + round(self.sent * self.period_s * 1e9)
                for topic in self.topics:
                    body = json.dumps({"v": self.sent, "ts": ts, "q": "good"})
                    await client.publish(topic, body, qos=1)
                self.sent += 1
                await asyncio.sleep(self.period_s)

    async def __aenter__(self) -> Device:
        self._task = asyncio.create_task(self._publish(), name="mqtt-device")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _Cable(Proxy):
    """The connector's link to the broker through a relay: ``interrupt`` pulls it.

    The broker keeps the connector's persistent session meanwhile, and the device goes on
    publishing to the broker directly.
    """

    async def interrupt(self) -> None:
        await self.cut()


@asynccontextmanager
async def mqtt_fixture(folder: Path) -> AsyncIterator[ConnectorFixture]:
    """The MQTT connector reading a device through mosquitto, behind a relay."""
    folder.mkdir(parents=True, exist_ok=True)
    speed = SignalRef(ASSET, "spindle_speed")
    temperature = SignalRef(ASSET, "spindle_temperature")
    topics = ["acme/cnc-01/speed", "acme/cnc-01/temperature"]
    options = {"value": "v", "timestamp": "ts", "timestamp_format": "epoch_ns", "quality": "q"}
    signals = [
        BoundSignal(speed, Signal(name=speed.name, unit="rpm"), topics[0], options),
        BoundSignal(temperature, Signal(name=temperature.name, unit="degC"), topics[1], options),
    ]
    with mosquitto(folder) as port:
        proxy = _Cable(port)
        await proxy.start()
        try:
            async with Device(port, topics):
                config = MqttConfig(
                    name="line",
                    port=proxy.port,
                    timeout_s=2,
                    keepalive_s=2,
                    flush_interval_ms=50,
                    reconnect=ReconnectPolicy(initial_s=0.1, max_s=0.5, jitter=0.1),
                )
                yield ConnectorFixture(config, signals, proxy, speed, 0.1, root=folder)
        finally:
            await proxy.cut()
