"""Settings of an MQTT broker connection, and the one function that opens it.

Every part of the project that talks to a broker as a client (the ``mqtt`` connector, the
Sparkplug B host application, ``shopfloor mqtt listen``) takes its settings as a
:class:`MqttBrokerSettings` and connects with :func:`open_client`, so TLS, credentials,
sessions and the mapping of broker errors to the engine's exceptions are written once.

A connector type inherits the settings as flat keys of its entry in the project file::

    - name: line1
      type: mqtt
      host: broker.plant.local
      port: 8883
      client_id: shopfloor-line1         # default: shopfloor-<connector name>
      tls:
        ca_file: certs/plant-ca.pem      # relative to the project folder
        cert_file: certs/shopfloor.pem   # client certificate (optional)
        key_file: certs/shopfloor.key
      username: shopfloor
      password_env: LINE1_MQTT_PASSWORD  # or password_file: /run/secrets/mqtt
      qos: 1
      persistent_session: true           # the broker keeps subscriptions and QoS 1 messages
      session_expiry_s: 86400            # ... for this long after a disconnect (MQTT 5)
      keepalive_s: 30
      reconnect: {initial_s: 1, max_s: 60}   # the engine's policy (every connector has it)

Errors when connecting tell the engine what to do (see :mod:`shopfloor.connectors.base`):
:class:`~shopfloor.errors.ConnectorAuthError` for refused credentials, a certificate that
does not verify or a secret that is not there; :class:`~shopfloor.errors.ConnectorNotReady`
for a broker that cannot be reached now.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, Self

import aiomqtt
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shopfloor.errors import ConnectorAuthError, ConnectorError, ConnectorNotReady

__all__ = [
    "AUTH_REFUSED",
    "MqttBrokerSettings",
    "MqttTls",
    "broker_error",
    "open_client",
    "read_credentials",
    "tls_context",
]

AUTH_REFUSED = frozenset({4, 5, 134, 135, 138, 140})
"""CONNACK codes that mean the broker will not take these credentials (MQTT 3.1.1 and 5)."""

_UNSUPPORTED_PROTOCOL = frozenset({1, 132})
"""CONNACK codes of a broker that does not speak the protocol version asked for."""

Protocol = Literal["auto", "5", "3.1.1"]


class MqttTls(BaseModel):
    """TLS to the broker. ``tls: {}`` verifies the broker against the system's CAs.

    Paths are relative to the project folder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_file: str | None = Field(
        default=None, description="CA certificates (PEM) that sign the broker's certificate."
    )
    cert_file: str | None = Field(default=None, description="Client certificate (PEM).")
    key_file: str | None = Field(default=None, description="Its private key (PEM).")
    key_password_env: str | None = Field(
        default=None, description="Variable holding the private key's password."
    )
    insecure: bool = Field(
        default=False,
        description=(
            "Accept any broker certificate and host name (encrypts, but does not "
            "authenticate the broker: for tests only)."
        ),
    )

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        if self.key_password_env is not None and self.key_file is None:
            raise ValueError("key_password_env needs key_file")
        return self


class MqttBrokerSettings(BaseModel):
    """Where the broker is and how to connect to it (the keys every MQTT client shares).

    Connector types subclass it together with
    :class:`~shopfloor.connectors.config.ConnectorConfig`; the reconnect policy is the
    engine's ``reconnect`` of every connector.

    Examples
    --------
    >>> s = MqttBrokerSettings(host="127.0.0.1", username="line", password_env="PW")
    >>> s.port, s.qos, s.persistent_session, s.protocol
    (1883, 1, True, 'auto')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", min_length=1, description="Broker host name or IP.")
    port: int = Field(default=1883, ge=1, le=65535, description="1883, or 8883 with TLS.")
    client_id: str | None = Field(
        default=None,
        max_length=128,
        description="Client identifier; a persistent session is bound to it.",
    )
    protocol: Protocol = Field(
        default="auto", description="MQTT version: 5, 3.1.1, or auto (5, else 3.1.1)."
    )
    tls: MqttTls | None = Field(default=None, description="TLS settings; none: plain TCP.")
    username: str | None = None
    username_env: str | None = Field(default=None, description="Variable holding the user name.")
    password_env: str | None = Field(default=None, description="Variable holding the password.")
    password_file: str | None = Field(
        default=None, description="File holding the password (a mounted secret)."
    )
    qos: Literal[0, 1, 2] = Field(default=1, description="QoS of subscriptions (and publishes).")
    persistent_session: bool = Field(
        default=True,
        description=(
            "Ask the broker to keep the session (subscriptions, QoS ≥ 1 messages) while "
            "disconnected: MQTT 5 clean_start false with session_expiry_s, 3.1.1 "
            "clean_session false."
        ),
    )
    session_expiry_s: int = Field(
        default=86400,
        ge=0,
        le=2**32 - 1,
        description="MQTT 5: how long the broker keeps a persistent session after a disconnect.",
    )
    keepalive_s: int = Field(default=30, ge=1, le=65535)
    timeout_s: float = Field(default=10.0, gt=0, description="Connect and each request.")

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.username is not None and self.username_env is not None:
            raise ValueError("give username or username_env, not both")
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give password_env or password_file, not both")
        has_user = self.username is not None or self.username_env is not None
        if not has_user and (self.password_env is not None or self.password_file is not None):
            raise ValueError("a password needs username or username_env")
        return self

    @property
    def target(self) -> str:
        """``mqtt://host:port`` (``mqtts://`` with TLS), for messages and health."""
        scheme = "mqtts" if self.tls is not None else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"


def read_credentials(
    settings: MqttBrokerSettings, env: Mapping[str, str], root: Path
) -> tuple[str | None, str | None]:
    """The user name and password ``settings`` name, from the environment or a file.

    Raises
    ------
    ConnectorAuthError
        A variable named is not set, or the password file cannot be read.
    """
    user = settings.username
    if settings.username_env is not None:
        user = env.get(settings.username_env)
        if not user:
            raise ConnectorAuthError(
                f"{settings.target}: set {settings.username_env} (the user name) in the environment"
            )
    password: str | None = None
    if settings.password_env is not None:
        password = env.get(settings.password_env)
        if password is None:
            raise ConnectorAuthError(
                f"{settings.target}: set {settings.password_env} (the password) in the environment"
            )
    if settings.password_file is not None:
        path = _resolve(root, settings.password_file)
        try:
            password = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as err:
            raise ConnectorAuthError(
                f"{settings.target}: cannot read password_file {str(path)!r}: {err}"
            ) from err
    return user, password


def tls_context(tls: MqttTls, env: Mapping[str, str], root: Path) -> ssl.SSLContext:
    """The SSL context of ``tls`` (blocking: it reads certificate files).

    Raises
    ------
    ConnectorAuthError
        A certificate or key file is missing or unusable, or its password is not set.
    """
    ca = None if tls.ca_file is None else _resolve(root, tls.ca_file)
    try:
        context = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as err:
        raise ConnectorAuthError(f"tls ca_file {str(ca)!r}: {err}") from err
    if tls.cert_file is not None and tls.key_file is not None:
        password = None
        if tls.key_password_env is not None:
            password = env.get(tls.key_password_env)
            if password is None:
                raise ConnectorAuthError(
                    f"tls: set {tls.key_password_env} (the key's password) in the environment"
                )
        cert, key = _resolve(root, tls.cert_file), _resolve(root, tls.key_file)
        try:
            context.load_cert_chain(cert, key, password)
        except (OSError, ssl.SSLError) as err:
            raise ConnectorAuthError(
                f"tls cert_file {str(cert)!r} / key_file {str(key)!r}: {err}"
            ) from err
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.sslsocket_class = _ClosingSSLSocket
    return context


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails (paho drops the socket open, to the GC)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def broker_error(err: aiomqtt.MqttError | OSError | TimeoutError, what: str) -> ConnectorError:
    """The engine's exception for a broker error ``err``; ``what`` names the client and broker.

    A refused CONNACK (bad user name or password, not authorized) or a broker certificate
    that does not verify is a :class:`~shopfloor.errors.ConnectorAuthError`; anything else
    (refused connection, time-out, lost connection) a
    :class:`~shopfloor.errors.ConnectorNotReady`.
    """
    if isinstance(err, aiomqtt.MqttCodeError) and _code(err) in AUTH_REFUSED:
        return ConnectorAuthError(f"{what}: the broker refused the credentials: {err}")
    cause = err.__context__ if isinstance(err, aiomqtt.MqttError) else err
    if isinstance(cause, ssl.SSLCertVerificationError):
        return ConnectorAuthError(f"{what}: the broker's certificate does not verify: {cause}")
    if isinstance(err, TimeoutError):
        return ConnectorNotReady(f"{what}: no answer (timed out)")
    return ConnectorNotReady(f"{what}: {err or type(err).__name__}")


@asynccontextmanager
async def open_client(
    settings: MqttBrokerSettings,
    *,
    env: Mapping[str, str],
    root: Path | None = None,
    client_id: str | None = None,
    will: aiomqtt.Will | None = None,
    max_queued_messages: int | None = None,
) -> AsyncIterator[aiomqtt.Client]:
    """Connect to the broker of ``settings``; yield the connected client, disconnect after.

    Parameters
    ----------
    settings
        The broker and how to connect.
    env
        Environment variables (secrets named by ``*_env`` keys).
    root
        Folder that relative paths (certificates, password file) are relative to.
    client_id
        Used when ``settings.client_id`` is not set (a connector passes
        ``shopfloor-<name>``); with neither, the client is anonymous and its session is
        never persistent.
    will
        The last will the broker publishes if the connection is lost.
    max_queued_messages
        Cap of received messages waiting to be read (``None``: unbounded).

    Raises
    ------
    ConnectorAuthError
        Credentials refused, a secret missing, a certificate that does not verify.
    ConnectorNotReady
        The broker cannot be reached or does not answer within ``settings.timeout_s``.

    Examples
    --------
    ::

        async with open_client(settings, env=os.environ, client_id="shopfloor-line") as c:
            await c.subscribe("plant/#", qos=settings.qos)
            async for message in c.messages:
                ...
    """
    base = Path.cwd() if root is None else root
    identifier = settings.client_id or client_id
    what = f"mqtt client {identifier or '(anonymous)'} to {settings.target}"
    user, password = read_credentials(settings, env, base)
    context = None
    if settings.tls is not None:
        context = await asyncio.to_thread(tls_context, settings.tls, env, base)
    versions = ["5", "3.1.1"] if settings.protocol == "auto" else [settings.protocol]
    for attempt, version in enumerate(versions):
        client = _client(
            settings, version, identifier, (user, password), context, will, max_queued_messages
        )
        try:
            async with asyncio.timeout(settings.timeout_s):
                await client.__aenter__()
        except aiomqtt.MqttCodeError as err:
            if _code(err) in _UNSUPPORTED_PROTOCOL and attempt + 1 < len(versions):
                continue
            raise broker_error(err, what) from err
        except (aiomqtt.MqttError, OSError, TimeoutError) as err:
            raise broker_error(err, what) from err
        try:
            yield client
        finally:
            # the connection may be gone already: a failed goodbye changes nothing
            with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
                async with asyncio.timeout(settings.timeout_s):
                    await client.__aexit__(None, None, None)
        return


def _client(
    settings: MqttBrokerSettings,
    version: str,
    identifier: str | None,
    credentials: tuple[str | None, str | None],
    context: ssl.SSLContext | None,
    will: aiomqtt.Will | None,
    max_queued_messages: int | None = None,
) -> aiomqtt.Client:
    persistent = settings.persistent_session and identifier is not None
    v5 = version == "5"
    properties = None
    if v5:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.session_expiry_s if persistent else 0
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=credentials[0],
        password=credentials[1],
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        will=will,
        # MQTT 5 sessions: clean_start and the expiry property; 3.1.1: clean_session
        clean_session=None if v5 else not persistent,
        clean_start=(not persistent) if v5 else MQTT_CLEAN_START_FIRST_ONLY,
        properties=properties,
        timeout=settings.timeout_s,
        keepalive=settings.keepalive_s,
        max_queued_incoming_messages=max_queued_messages,
        tls_context=context,
        tls_insecure=True if settings.tls is not None and settings.tls.insecure else None,
    )


def _code(err: aiomqtt.MqttCodeError) -> int | None:
    rc = err.rc
    if rc is None:
        return None
    return int(rc if isinstance(rc, int) else rc.value)


def _resolve(root: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate
