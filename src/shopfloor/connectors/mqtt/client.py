"""The MQTT connector: JSON values, binary waveform blocks and images from topics.

It connects with :func:`~shopfloor.connectors.mqtt.connection.open_client` (QoS 1 and a
persistent session by default, so the broker keeps messages while the platform is away),
subscribes to the filter of every route, and reads each message for every bound signal
whose topic pattern matches it (:mod:`.topics`; several signals may read several values of
one JSON message), or else for the first ``topics`` route that matches, whose asset and
signal templates are filled with the topic's captures.

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
from typing import Any

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
from shopfloor.connectors.mqtt.payloads import HEADER_ATTRIBUTES, MessageReader, Reading, parse_json
from shopfloor.connectors.mqtt.topics import TopicPattern, fill_template, subscription_filters
from shopfloor.connectors.mqtt.waveform import WaveformDecodeError, decode_waveform
from shopfloor.errors import (
    ConfigError,
    ConnectorError,
    ImageRejected,
    PayloadRejected,
    RecordError,
)
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

_UNPARSED = object()
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
    bound: bool

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
                    bound=True,
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
                    bound=False,
                )
            )
        self.filters = subscription_filters([route.pattern.filter for route in self.routes])
        self.received = 0
        self.rejected = 0
        self._resolved: dict[
            str, list[tuple[_Route, SignalRef, dict[str, str]]] | PayloadRejected
        ] = {}
        self._pending: dict[SignalRef, _Pending] = {}
        self._waiting = 0
        self._stack: AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None
        self._failure: BaseException | None = None
        self._in_hand: tuple[str, bytes, int] | None = None

    # -- reading one message --------------------------------------------------------------

    def _resolve(self, topic: str) -> list[tuple[_Route, SignalRef, dict[str, str]]]:
        """Every bound signal whose topic matches ``topic``, else the first ``topics`` route.

        Remembered per topic; ``PayloadRejected`` (``unmapped_topic``) when nothing
        matches or the captures make no valid signal.
        """
        found = self._resolved.get(topic)
        if found is None:
            matches: list[tuple[_Route, SignalRef, dict[str, str]]] = []
            found = matches
            for route in self.routes:
                if matches and not route.bound:
                    break
                captures = route.pattern.match(topic)
                if captures is None:
                    continue
                try:
                    matches.append((route, route.signal_of(captures, topic), captures))
                except PayloadRejected as err:
                    found = err
                    break
                if not route.bound:
                    break
            if not matches and not isinstance(found, PayloadRejected):
                found = PayloadRejected(
                    f"{topic}: no topic of connector {self.name!r} matches it", "unmapped_topic"
                )
            if len(self._resolved) >= _CACHE_TOPICS:
                self._resolved.clear()
            self._resolved[topic] = found
        if isinstance(found, PayloadRejected):
            raise found
        return found

    async def handle(self, topic: str, payload: bytes, received_ns: int) -> None:
        """Read one message for each signal it feeds: scalars wait, records go on.

        What cannot be read becomes a dead letter (one per signal it was meant for).
        """
        self.received += 1
        try:
            matches = self._resolve(topic)
        except PayloadRejected as err:
            await self._refuse(topic, payload, err, None)
            return
        document: Any = _UNPARSED
        for route, ref, captures in matches:
            try:
                if route.payload == "json":
                    if document is _UNPARSED:
                        document = parse_json(payload, topic)
                    await self._scalar(route, ref, route.reader.read(document, topic, received_ns))
                elif route.payload == "waveform":
                    await self.context.emit(
                        [self._waveform(route, ref, topic, payload, received_ns)]
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
            except RecordError as err:
                await self._refuse(topic, payload, err, ref)
                if route.payload == "json" and document is _UNPARSED:
                    return  # malformed JSON: one letter, not one per signal

    async def _scalar(self, route: _Route, ref: SignalRef, reading: Reading) -> None:
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

    def _waveform(
        self, route: _Route, ref: SignalRef, topic: str, payload: bytes, received_ns: int
    ) -> WaveformBlock:
        try:
            block = decode_waveform(payload)
        except WaveformDecodeError as err:
            raise WaveformDecodeError(f"{topic}: {err}", err.category) from None
        return WaveformBlock(
            ref,
            block.t0_ns,
            block.sample_rate_hz,
            block.data,
            self._units.get(ref, ""),
            route.provenance,
            ingest_ns=received_ns,
        )

    async def _refuse(
        self, topic: str, payload: bytes, error: RecordError, ref: SignalRef | None
    ) -> None:
        self.rejected += 1
        if isinstance(error, ImageRejected) and ref is not None:
            letter = image_letter(
                error,
                source=self.name,
                location=topic,
                signal=ref,
                name=topic,
                size=len(payload),
                data=payload,
                topic=topic,
            )
        else:
            category = getattr(error, "category", "bad_payload")
            letter = self._letter(topic, payload, str(error), category, ref)
        await self.context.reject([letter])

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
        # what the client has received waits in its queue: taken at once, without the task
        # its message iterator makes for each message; the iterator waits for the next one
        # (and raises when the connection drops)
        queue: asyncio.Queue[aiomqtt.Message] = client._queue
        messages = client.messages.__aiter__()
        try:
            while not flusher.done():
                message = queue.get_nowait() if queue.qsize() else await anext(messages)
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                # out of the client's queue and acknowledged: if a stop cancels its handling
                # (an image decodes in a thread), close() hands it on
                self._in_hand = (message.topic.value, data, now_ns())
                await self.handle(*self._in_hand)
                self._in_hand = None
                if self.received % 256 == 0:
                    await asyncio.sleep(0)  # let the client acknowledge and read on
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
            if self._in_hand is not None:  # same topic, bytes and arrival: same records
                in_hand, self._in_hand = self._in_hand, None
                await self.handle(*in_hand)
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
