"""A simulated Sparkplug B edge node with devices, publishing to an MQTT broker.

It behaves as Sparkplug 3.0 asks of an edge node: it connects with its NDEATH (carrying
``bdSeq``) as its will, publishes an NBIRTH and a DBIRTH per device listing every metric
with its alias, data type and value, then NDATA/DDATA every ``period_s`` with the values
by alias, numbering every message but the NDEATH 0–255 with wraparound. It answers a
rebirth request (NCMD ``Node Control/Rebirth`` = true) with its births. With a primary
host it waits for that host's STATE ``online`` before it is born and pauses while the host
is offline; it is born again (next ``bdSeq``) after each reconnect. Tests steer it:
:meth:`EdgeNodeSim.skip_seq` injects a sequence gap, :meth:`EdgeNodeSim.die` publishes
the NDEATH and goes away, :meth:`EdgeNodeSim.device_death` sends a DDEATH,
:meth:`EdgeNodeSim.publish_raw` sends any bytes.

The payload encoding is given as a :class:`PayloadCodec` (the connector's codec sits a
layer above the simulators): :mod:`shopfloor.connectors.sparkplug.simcodec` provides it.

Default metrics (values are functions of the wall clock):

================  ===========================  ===========  =====================
device            metric                       data type    value
================  ===========================  ===========  =====================
(edge node)       ``Line/Speed``               Double       120 + 5 sin(t/10) m/min
(edge node)       ``Line/Mode``                String       ``auto``/``setup``
``press-1``       ``Motor/Speed``              Float        1450 + 30 sin(t/5) rpm
``press-1``       ``Motor/Running``            Boolean      true
``press-1``       ``Counter``                  UInt32       parts since start
``press-1``       ``Temperature``              Int16        40 ± 5 degC
``press-1``       ``Last Change``              DateTime     start time
``press-1``       ``Profile``                  DoubleArray  3 forces in kN
================  ===========================  ===========  =====================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiomqtt

__all__ = [
    "DEFAULT_DEVICES",
    "DEFAULT_NODE_METRICS",
    "EdgeNodeSim",
    "EdgeNodeSimConfig",
    "PayloadCodec",
    "SimMetric",
    "WireMetric",
]

log = logging.getLogger(__name__)

# Sparkplug B data type numbers (sparkplug_b.proto)
INT16, INT64, UINT32, FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, DOUBLE_ARRAY = (
    2,
    4,
    7,
    9,
    10,
    11,
    12,
    13,
    31,
)


@dataclass(frozen=True)
class WireMetric:
    """One metric as the simulator hands it to the codec."""

    name: str | None
    alias: int | None
    datatype: int | None
    value: Any
    timestamp_ms: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


class PayloadCodec(Protocol):
    """Encodes the simulator's payloads and reads the commands it receives."""

    def encode(self, seq: int | None, timestamp_ms: int, metrics: Sequence[WireMetric]) -> bytes:
        """A Sparkplug B payload."""

    def commands(self, payload: bytes) -> dict[str, Any]:
        """The metrics of an NCMD/DCMD payload by name (``{}`` when it does not decode)."""


@dataclass(frozen=True)
class SimMetric:
    """A metric of the simulated edge node or of one of its devices."""

    name: str
    alias: int
    datatype: int
    value: Callable[[float], Any]
    unit: str = ""


_START = time.time()

DEFAULT_NODE_METRICS: tuple[SimMetric, ...] = (
    SimMetric("Line/Speed", 1, DOUBLE, lambda t: 120 + 5 * math.sin(t / 10), "m/min"),
    SimMetric("Line/Mode", 2, STRING, lambda t: "auto" if int(t / 30) % 2 == 0 else "setup"),
)
DEFAULT_DEVICES: dict[str, tuple[SimMetric, ...]] = {
    "press-1": (
        SimMetric("Motor/Speed", 10, FLOAT, lambda t: 1450 + 30 * math.sin(t / 5), "rpm"),
        SimMetric("Motor/Running", 11, BOOLEAN, lambda t: True),
        SimMetric("Counter", 12, UINT32, lambda t: int(t - _START) % 2**32),
        SimMetric("Temperature", 13, INT16, lambda t: round(40 + 5 * math.sin(t / 60)), "degC"),
        SimMetric("Last Change", 14, DATETIME, lambda t: datetime.fromtimestamp(int(_START), UTC)),
        SimMetric("Profile", 15, DOUBLE_ARRAY, lambda t: (1.5, 2.25 + math.sin(t) / 8, 1.0), "kN"),
    )
}


@dataclass(frozen=True)
class EdgeNodeSimConfig:
    """Settings of a simulated edge node.

    Parameters
    ----------
    port, host
        The broker (loopback).
    group, edge_node
        Its Sparkplug ids.
    node_metrics, devices
        Its own metrics and its devices' (see the module's table for the defaults).
    period_s
        How often it publishes its values.
    primary_host
        A host id whose STATE it waits for before it is born (``None``: born at once).
    aliases
        Send data by alias (names only in births), as Sparkplug recommends.
    """

    port: int
    host: str = "127.0.0.1"
    group: str = "Line1"
    edge_node: str = "press-gw"
    node_metrics: tuple[SimMetric, ...] = DEFAULT_NODE_METRICS
    devices: Mapping[str, tuple[SimMetric, ...]] = field(
        default_factory=lambda: dict(DEFAULT_DEVICES)
    )
    period_s: float = 0.1
    primary_host: str | None = None
    aliases: bool = True


class EdgeNodeSim:
    """A Sparkplug B edge node on a broker; ``async with`` runs it.

    Attributes
    ----------
    sent
        Every value published, by ``(device or None, metric name)``: ``(ms, value)``.
    rebirth_requests
        How many rebirth requests it answered.
    births
        How many NBIRTHs it published.
    """

    def __init__(self, config: EdgeNodeSimConfig, codec: PayloadCodec) -> None:
        self.config = config
        self.codec = codec
        self.bd_seq = -1
        self.seq = 0
        self.sent: dict[tuple[str | None, str], list[tuple[int, Any]]] = {}
        self.rebirth_requests = 0
        self.births = 0
        self.host_online = config.primary_host is None
        self._skip = 0
        self._born = False
        self._dead_devices: set[str] = set()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._lock = asyncio.Lock()
        self.connected = asyncio.Event()

    # -- topics ---------------------------------------------------------------------------

    def topic(self, kind: str, device: str | None = None) -> str:
        """The topic of message type ``kind`` of this node or one of its devices."""
        base = f"spBv1.0/{self.config.group}/{kind}/{self.config.edge_node}"
        return base if device is None else f"{base}/{device}"

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> EdgeNodeSim:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        """Connect (and reconnect) in the background until :meth:`stop` or :meth:`die`."""
        self._stopped.clear()
        self._task = asyncio.create_task(self._run(), name=f"sparkplug-sim:{self.config.edge_node}")

    async def stop(self) -> None:
        """Disconnect cleanly without an NDEATH (the broker discards the will too)."""
        self._stopped.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def die(self) -> None:
        """Publish the NDEATH, then disconnect: the edge node goes offline for good."""
        async with self._lock:
            client = self._client
            if client is not None:
                await client.publish(self.topic("NDEATH"), self._death(), qos=1)
                self._born = False
        await self.stop()

    async def _run(self) -> None:
        while not self._stopped.is_set():
            self.bd_seq = (self.bd_seq + 1) % 256
            will = aiomqtt.Will(self.topic("NDEATH"), self._death(), qos=1, retain=False)
            client = aiomqtt.Client(
                self.config.host,
                self.config.port,
                identifier=f"sim-{self.config.group}-{self.config.edge_node}",
                will=will,
                keepalive=5,
                timeout=2,
            )
            try:
                async with client:
                    self._client = client
                    self._born = False
                    await client.subscribe(
                        f"spBv1.0/{self.config.group}/NCMD/{self.config.edge_node}"
                    )
                    await client.subscribe(
                        f"spBv1.0/{self.config.group}/DCMD/{self.config.edge_node}/+"
                    )
                    if self.config.primary_host is not None:
                        await client.subscribe(f"spBv1.0/STATE/{self.config.primary_host}", qos=1)
                    self.connected.set()
                    reader = asyncio.create_task(self._read(client))
                    try:
                        await self._publish_loop()
                    finally:
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                            await reader
            except (aiomqtt.MqttError, OSError) as err:
                log.debug("sparkplug_sim.disconnected error=%s", err)
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(0.2)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            topic = message.topic.value
            if topic.startswith("spBv1.0/STATE/"):
                await self._state(payload)
            elif self.codec.commands(payload).get("Node Control/Rebirth") is True:
                self.rebirth_requests += 1
                async with self._lock:
                    await self._birth(client)

    async def _state(self, payload: bytes) -> None:
        try:
            online = bool(json.loads(payload).get("online"))
        except (ValueError, AttributeError):
            return
        self.host_online = online
        if not online:
            self._born = False  # born again when the host is back

    async def _publish_loop(self) -> None:
        while True:
            client = self._client
            async with self._lock:
                if client is not None and self.host_online:
                    if not self._born:
                        await self._birth(client)
                    else:
                        await self._data(client)
            await asyncio.sleep(self.config.period_s)

    # -- messages -------------------------------------------------------------------------

    def _next_seq(self) -> int:
        seq = (self.seq + self._skip) % 256
        self._skip = 0
        self.seq = (seq + 1) % 256
        return seq

    def _values(
        self, device: str | None, metrics: Sequence[SimMetric], birth: bool, now: float
    ) -> list[WireMetric]:
        ms = int(now * 1000)
        out = []
        for metric in metrics:
            value = metric.value(now)
            self.sent.setdefault((device, metric.name), []).append((ms, value))
            by_alias = self.config.aliases and not birth
            out.append(
                WireMetric(
                    None if by_alias else metric.name,
                    metric.alias,
                    metric.datatype if birth else None,
                    value,
                    ms,
                    {"engUnit": metric.unit} if birth and metric.unit else {},
                )
            )
        return out

    def _death(self) -> bytes:
        return self.codec.encode(
            None, int(time.time() * 1000), [WireMetric("bdSeq", None, INT64, self.bd_seq)]
        )

    async def _birth(self, client: aiomqtt.Client) -> None:
        now = time.time()
        self.seq = 0
        control = [
            WireMetric("bdSeq", None, INT64, self.bd_seq),
            WireMetric("Node Control/Rebirth", None, BOOLEAN, False),
        ]
        metrics = control + self._values(None, self.config.node_metrics, True, now)
        await client.publish(
            self.topic("NBIRTH"),
            self.codec.encode(self._next_seq(), int(now * 1000), metrics),
            qos=1,
        )
        for device, device_metrics in self.config.devices.items():
            if device in self._dead_devices:
                continue
            payload = self.codec.encode(
                self._next_seq(), int(now * 1000), self._values(device, device_metrics, True, now)
            )
            await client.publish(self.topic("DBIRTH", device), payload, qos=1)
        self._born = True
        self.births += 1

    async def _data(self, client: aiomqtt.Client) -> None:
        now = time.time()
        if self.config.node_metrics:
            metrics = self._values(None, self.config.node_metrics, False, now)
            payload = self.codec.encode(self._next_seq(), int(now * 1000), metrics)
            await client.publish(self.topic("NDATA"), payload, qos=1)
        for device, device_metrics in self.config.devices.items():
            if device in self._dead_devices:
                continue
            payload = self.codec.encode(
                self._next_seq(), int(now * 1000), self._values(device, device_metrics, False, now)
            )
            await client.publish(self.topic("DDATA", device), payload, qos=1)

    # -- steering -------------------------------------------------------------------------

    def skip_seq(self, count: int = 1) -> None:
        """Leave out ``count`` sequence numbers in the next message (messages lost)."""
        self._skip += count

    def _connected(self) -> aiomqtt.Client:
        if self._client is None:
            raise RuntimeError("the simulated edge node is not connected")
        return self._client

    async def device_death(self, device: str) -> None:
        """Publish a DDEATH of ``device``; it stays dead until the next birth it is in."""
        async with self._lock:
            client = self._connected()
            payload = self.codec.encode(self._next_seq(), int(time.time() * 1000), [])
            await client.publish(self.topic("DDEATH", device), payload, qos=1)
            self._dead_devices.add(device)

    async def device_birth(self, device: str) -> None:
        """Publish a DBIRTH of ``device`` (after :meth:`device_death`)."""
        async with self._lock:
            client = self._connected()
            self._dead_devices.discard(device)
            now = time.time()
            values = self._values(device, self.config.devices[device], True, now)
            payload = self.codec.encode(self._next_seq(), int(now * 1000), values)
            await client.publish(self.topic("DBIRTH", device), payload, qos=1)

    async def publish_raw(self, topic: str, payload: bytes) -> None:
        """Publish any bytes (a wrong protobuf) on any topic."""
        async with self._lock:
            await self._connected().publish(topic, payload, qos=1)
