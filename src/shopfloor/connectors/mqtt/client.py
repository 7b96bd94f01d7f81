"""The MQTT connector: JSON values, binary waveform blocks and images from topics.

It connects with :func:`~shopfloor.connectors.mqtt.connection.open_client` (QoS 1 and a
persistent session by default, so the broker keeps messages while the platform is away),
subscribes to the filter of every route, and reads each message by the first route whose
topic pattern matches it (:mod:`.topics`): the signal's own topic for a bound signal, the
asset and signal templates filled with the captures for a ``topics`` route.

Scalars are batched per signal for ``flush_interval_ms``; waveform blocks and images are
handed on as they come. A message that cannot be read (:mod:`.payloads`) becomes a dead
letter naming the topic and the reason, and the connector goes on. The engine owns
reconnects and health.

Messages the client library has received (and acknowledged to the broker) are read even
when the connection drops, before the connector closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aiomqtt
import numpy as np

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.mqtt.config import (
    PAYLOAD_SIGNAL_KIND,
    MqttConfig,
    MqttSignalOptions,
    PayloadKind,
)
from shopfloor.connectors.mqtt.connection import broker_error, open_client
from shopfloor.connectors.mqtt.payloads import HEADER_ATTRIBUTES, MessageReader
from shopfloor.connectors.mqtt.topics import TopicPattern, fill_template
from shopfloor.connectors.mqtt.waveform import WaveformDecodeError, decode_waveform
from shopfloor.errors import ConfigError, ConnectorError, ImageRejected, PayloadRejected
from shopfloor.model import (
    DeadLetter,
    ImageRecord,
    Provenance,
    Record,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
    now_ns,
    validate_asset_path,
    validate_segment,
)
from shopfloor.model.imaging import LETTER_PAYLOAD_BYTES, image_letter

__all__ = ["MqttConnector"]

log = logging.getLogger(__name__)

_MAX_BATCH = 10_000
"""Scalars waiting for one signal that make the connector hand them on at once."""
_CACHE_TOPICS = 65_536
"""Topics whose route and signal are remembered (a plant publishes to a fixed set)."""


@dataclass(frozen=True)
class _Route:
    """How the messages of one topic pattern are read, and which signal they feed."""

    pattern: TopicPattern
    reader: MessageReader
    payload: PayloadKind
    asset: str
    signal: str
    provenance: Provenance

    def signal_of(self, captures: dict[str, str], topic: str) -> SignalRef:
        """The signal of a topic; ``PayloadRejected`` when its captures make no valid path."""
        try:
            asset = validate_asset_path(fill_template(self.asset, captures))
            name = validate_segment(fill_template(self.signal, captures), what="signal name")
        except ValueError as err:
            raise PayloadRejected(
                f"{topic}: topic {self.pattern.text!r} maps it to no valid signal: {err}",
                "unmapped_topic",
            ) from None
        return SignalRef(asset, name)


@dataclass
class _Pending:
    """Scalars of one signal waiting to be handed on."""

    provenance: Provenance
    ts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    status: list[int] = field(default_factory=list)


class MqttConnector:
    """Subscribes to the routes' topics and hands on what their messages carry."""

    def __init__(
        self, config: MqttConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.config = config
        self.context = context
        self.routes: list[_Route] = []
        self._units: dict[SignalRef, str] = {}
        for bound in signals:
            options = MqttSignalOptions.model_validate(bound.options)
            try:
                pattern = TopicPattern.parse(bound.address)
            except ValueError as err:
                raise ConfigError(
                    f"mqtt {config.name!r}: signal {bound.ref.path!r}: {err}"
                ) from err
            payload = options.payload_for(bound.definition.kind)
            expected = PAYLOAD_SIGNAL_KIND[payload]
            problem = options.payload_problem(payload)
            if bound.definition.kind != expected:
                problem = (
                    f"it is a {bound.definition.kind} signal; a {payload} payload feeds "
                    f"{expected} signals"
                )
            if problem is not None:
                raise ConfigError(f"mqtt {config.name!r}: signal {bound.ref.path!r}: {problem}")
            self._units[bound.ref] = bound.definition.unit
            self.routes.append(
                _Route(
                    pattern,
                    MessageReader(options),
                    payload,
                    bound.ref.asset,
                    bound.ref.name,
                    Provenance(config.name, bound.address),
                )
            )
        for route in config.topics:
            self.routes.append(
                _Route(
                    TopicPattern.parse(route.topic),
                    MessageReader(route),
                    route.payload_for(None),
                    route.asset,
                    route.signal,
                    Provenance(config.name, route.topic),
                )
            )
        self.filters = list(dict.fromkeys(route.pattern.filter for route in self.routes))
        self.received = 0
        self.rejected = 0
        self._resolved: dict[str, tuple[_Route, SignalRef, dict[str, str]] | PayloadRejected] = {}
        self._pending: dict[SignalRef, _Pending] = {}
        self._waiting = 0
        self._stack: AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None
        self._failure: BaseException | None = None

    # -- reading one message --------------------------------------------------------------

    def _resolve(self, topic: str) -> tuple[_Route, SignalRef, dict[str, str]]:
        """The route, signal and captures of ``topic`` (remembered per topic)."""
        found = self._resolved.get(topic)
        if found is None:
            found = PayloadRejected(
                f"{topic}: no route of connector {self.name!r} matches it", "unmapped_topic"
            )
            for route in self.routes:
                captures = route.pattern.match(topic)
                if captures is None:
                    continue
                try:
                    found = (route, route.signal_of(captures, topic), captures)
                except PayloadRejected as err:
                    found = err
                break
            if len(self._resolved) >= _CACHE_TOPICS:
                self._resolved.clear()
            self._resolved[topic] = found
        if isinstance(found, PayloadRejected):
            raise found
        return found

    async def handle(self, topic: str, payload: bytes, received_ns: int) -> None:
        """Read one message: pending scalars, a record handed on, or a dead letter."""
        self.received += 1
        ref: SignalRef | None = None
        try:
            route, ref, captures = self._resolve(topic)
            if route.payload == "json":
                reading = route.reader.scalar(payload, topic, received_ns)
                pending = self._pending.get(ref)
                if pending is None:
                    pending = self._pending[ref] = _Pending(route.provenance)
                pending.ts.append(reading.ts_ns)
                pending.values.append(reading.value)
                pending.quality.append(reading.quality)
                pending.status.append(reading.status_code)
                self._waiting += 1
                if len(pending.ts) >= _MAX_BATCH:
                    await self.flush()
                return
            record: Record
            if route.payload == "waveform":
                try:
                    block = decode_waveform(payload)
                except WaveformDecodeError as err:
                    raise WaveformDecodeError(f"{topic}: {err}", err.category) from None
                record = WaveformBlock(
                    ref,
                    block.t0_ns,
                    block.sample_rate_hz,
                    block.data,
                    self._units.get(ref, ""),
                    route.provenance,
                    ingest_ns=received_ns,
                )
            else:
                image = await asyncio.to_thread(
                    route.reader.image,
                    payload,
                    topic,
                    received_ns,
                    max_bytes=self.config.max_image_bytes,
                )
                attributes = {k: v for k, v in captures.items() if k in HEADER_ATTRIBUTES}
                attributes.update(image.attributes)
                record = ImageRecord(
                    ref,
                    image.ts_ns,
                    image.data,
                    image.info.format,
                    image.info.shape,
                    route.provenance,
                    image.quality,
                    image.status_code,
                    received_ns,
                    attributes,
                )
            await self.context.emit([record])
        except ImageRejected as err:
            self.rejected += 1
            assert ref is not None  # images are read once their signal is known
            letter = image_letter(
                err,
                source=self.name,
                location=topic,
                signal=ref,
                name=topic,
                size=len(payload),
                data=payload,
                topic=topic,
            )
            await self.context.reject([letter])
        except PayloadRejected as err:
            self.rejected += 1
            await self.context.reject([self._letter(topic, payload, str(err), err.category, ref)])

    def _letter(
        self, topic: str, payload: bytes, reason: str, category: str, ref: SignalRef | None
    ) -> DeadLetter:
        detail: dict[str, object] = {"category": category, "topic": topic, "bytes": len(payload)}
        if ref is not None:
            detail["signal"] = ref.path
        return DeadLetter(
            source=self.name,
            location=topic,
            reason=reason,
            payload=payload if len(payload) <= LETTER_PAYLOAD_BYTES else b"",
            detail=detail,
        )

    def _take(self) -> list[Record]:
        batches: list[Record] = []
        received = now_ns()
        for ref, pending in self._pending.items():
            n = len(pending.ts)
            batches.append(
                ScalarBatch(
                    ref,
                    np.fromiter(pending.ts, np.int64, n),
                    np.fromiter(pending.values, np.float64, n),
                    np.fromiter(pending.quality, np.uint8, n),
                    np.fromiter(pending.status, np.uint32, n),
                    np.full(n, received, dtype=np.int64),
                    pending.provenance,
                )
            )
        self._pending = {}
        self._waiting = 0
        return batches

    async def flush(self) -> None:
        """Hand on the scalars waiting, one batch per signal."""
        if self._waiting:
            await self.context.emit(self._take())

    # -- the connector protocol -----------------------------------------------------------

    async def connect(self) -> None:
        """Connect and subscribe to every route's filter with the configured QoS."""
        if not self.filters:
            raise ConfigError(
                f"mqtt {self.name!r}: nothing to subscribe to (bind a signal to it or add topics)"
            )
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                open_client(
                    self.config,
                    env=self.context.env,
                    root=self.context.root,
                    client_id=f"shopfloor-{self.name}",
                )
            )
            what = f"mqtt {self.name!r} at {self.config.target}"
            try:
                granted = await client.subscribe(
                    [(f, int(self.config.qos)) for f in self.filters], timeout=self.config.timeout_s
                )
            except (aiomqtt.MqttError, TimeoutError) as err:
                raise broker_error(err, what) from err
            refused = [f for f, code in zip(self.filters, granted, strict=False) if _refused(code)]
            if refused:
                raise ConnectorError(f"{what}: the broker refused the subscription to {refused}")
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._client, self._failure = stack, client, None
        log.info(
            "mqtt.subscribed connector=%s broker=%s filters=%d qos=%d",
            self.name,
            self.config.target,
            len(self.filters),
            self.config.qos,
        )

    async def run(self) -> None:
        """Read messages until the connection drops (``ConnectorNotReady``) or cancelled."""
        client = self._client
        if client is None:
            raise ConnectorError(f"mqtt {self.name!r}: run before connect")
        flusher = asyncio.create_task(self._flush_loop(), name=f"mqtt-flush:{self.name}")
        try:
            async for message in client.messages:
                if flusher.done():
                    break
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                await self.handle(message.topic.value, data, now_ns())
        except aiomqtt.MqttError as err:
            raise broker_error(err, f"mqtt {self.name!r} at {self.config.target}") from err
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        if self._failure is not None:
            raise self._failure

    async def _flush_loop(self) -> None:
        interval = self.config.flush_interval_ms / 1000
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush()
        except Exception as err:  # run() raises it: the engine decides what it means
            self._failure = err

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Read what the client received (and acknowledged) but was not read yet."""
        queue: asyncio.Queue[aiomqtt.Message] = client._queue
        while not queue.empty():
            message = queue.get_nowait()
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            await self.handle(message.topic.value, data, now_ns())

    async def close(self) -> None:
        """Disconnect, read what was received meanwhile, hand on what waits."""
        stack, client = self._stack, self._client
        self._stack = self._client = None
        if stack is not None:
            await stack.aclose()
        try:
            if client is not None:
                await self._drain(client)
            await self.flush()
        except Exception as err:  # the engine stops; say what could not be handed on
            log.error(
                "mqtt.values_lost connector=%s values=%d error=%s",
                self.name,
                self._waiting,
                err,
            )


def _refused(code: object) -> bool:
    value = getattr(code, "value", code)
    return isinstance(value, int) and value >= 0x80
