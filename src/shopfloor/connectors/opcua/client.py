"""The OPC UA connector (asyncua).

Per connection: open the session (security and credentials as configured), resolve every
bound node, fill the gap since the last connection from the server's history where it
keeps one (records marked ``backfilled``) or record the gap as an event, then subscribe
(sampling interval, queue size and deadband per signal) or poll. Scalar values are
batched per signal for ``flush_interval_ms``; arrays become waveform blocks, assembled
across channel nodes for multi-channel signals. Status codes are kept as quality.

Connection loss is detected by asyncua's watchdog; ``run`` then raises
``ConnectorNotReady`` and the engine reconnects with backoff, which brings the session,
every subscription and the backfill back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.opcua.config import OpcUaConfig, OpcUaSignalOptions
from shopfloor.connectors.opcua.security import ensure_client_certificate
from shopfloor.connectors.opcua.values import (
    datetime_to_ns,
    scalar_value,
    to_event,
    to_waveform,
)
from shopfloor.errors import ConfigError, ConnectorAuthError, ConnectorError, ConnectorNotReady
from shopfloor.model import (
    NS_PER_S,
    DeadLetter,
    EventRecord,
    Provenance,
    Quality,
    Record,
    ScalarBatch,
    SignalKind,
    SignalRef,
    WaveformBlock,
    now_ns,
)

__all__ = ["OpcUaConnector", "connect_client", "disconnect_client"]

# Quality by the two severity bits of a status code (11 is bad too)
_QUALITY = (int(Quality.GOOD), int(Quality.UNCERTAIN), int(Quality.BAD), int(Quality.BAD))

log = logging.getLogger(__name__)


async def disconnect_client(client: Any) -> None:
    """End a session, whatever state it is in (2 s at most)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 2)


async def connect_client(
    config: OpcUaConfig, certificate_dir: Path, env: dict[str, str], *, on_lost: Any = None
) -> Any:
    """An asyncua client connected as ``config`` says (security, credentials, timeouts).

    Raises
    ------
    ConnectorAuthError
        Credentials missing from the environment, or refused; certificate refused.
    ConnectorNotReady
        The server cannot be reached or refused the session for another reason.
    """
    from asyncua import Client, ua
    from asyncua.crypto import security_policies

    client = Client(
        config.endpoint,
        timeout=config.request_timeout_s,
        watchdog_intervall=config.watchdog_interval_s,
    )
    client.application_uri = config.application_uri or f"urn:shopfloor:client:{config.name}"
    client.name = f"shopfloor {config.name}"
    client.session_timeout = int(config.session_timeout_s * 1000)
    if config.username_env is not None and config.password_env is not None:
        user = env.get(config.username_env)
        password = env.get(config.password_env)
        if not user or password is None:
            raise ConnectorAuthError(
                f"connector {config.name!r}: set {config.username_env} and "
                f"{config.password_env} in the environment"
            )
        client.set_user(user)
        client.set_password(password)
    try:
        if config.security_mode != "None":
            cert, key = await ensure_client_certificate(certificate_dir, client.application_uri)
            mode = getattr(ua.MessageSecurityMode, config.security_mode)
            await client.set_security(
                security_policies.SecurityPolicyBasic256Sha256,
                str(cert),
                str(key),
                server_certificate=config.server_certificate,
                mode=mode,
            )
        if on_lost is not None:
            client.connection_lost_callback = on_lost
        await client.connect()
    except ua.UaStatusCodeError as err:
        await disconnect_client(client)
        name = type(err).__name__
        if any(word in name for word in ("Security", "Certificate", "Identity", "UserAccess")):
            raise ConnectorAuthError(f"{config.endpoint}: {name}: {err}") from err
        raise ConnectorNotReady(f"{config.endpoint}: {name}: {err}") from err
    except Exception as err:  # asyncua raises plain OSError, TimeoutError, ValueError...
        await disconnect_client(client)
        raise ConnectorNotReady(f"{config.endpoint}: {type(err).__name__}: {err}") from err
    return client


class _Scalars:
    """Values of one scalar signal waiting for the next flush."""

    __slots__ = ("quality", "status", "ts", "values")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.values: list[float] = []
        self.quality: list[int] = []
        self.status: list[int] = []


class _Channels:
    """Arrays of a multi-channel waveform waiting for their siblings (same timestamp)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: dict[int, dict[int, np.ndarray]] = {}
        self.quality: dict[int, int] = {}


class OpcUaConnector:
    """A connection to one OPC UA server, for the signals bound to it."""

    def __init__(
        self, config: OpcUaConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.config = config
        self.context = context
        self.signals = signals
        self.options = {s.ref: OpcUaSignalOptions.model_validate(s.options) for s in signals}
        # node id -> (signal, channel index)
        self._routes: dict[str, tuple[BoundSignal, int]] = {}
        for bound in signals:
            nodes = self.options[bound.ref].channel_nodes or [bound.address]
            if (
                bound.definition.kind == SignalKind.WAVEFORM
                and len(nodes) != bound.definition.n_channels
            ):
                raise ConfigError(
                    f"signal {bound.ref.path!r} has {bound.definition.n_channels} channels; "
                    f"give one node each in source_options.channel_nodes"
                )
            for channel, node in enumerate(nodes):
                self._routes[node] = (bound, channel)
        self._by_node_id: dict[Any, tuple[BoundSignal, int, str]] = {}
        self._provenance = {s.ref: Provenance(config.name, s.address) for s in signals}
        self._client: Any = None
        self._lost: asyncio.Event = asyncio.Event()
        self._lost_reason = ""
        self._scalars: dict[SignalRef, _Scalars] = defaultdict(_Scalars)
        self._channels: dict[SignalRef, _Channels] = {}
        self._pending: list[Record] = []
        self._letters: list[DeadLetter] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._last_ts: dict[SignalRef, int] = {}
        # Resume where the store left off: the first connect after a platform start
        # backfills (or records a gap) from there, as a reconnect does.
        self._last_ts.update(context.resume)
        self._server_started: datetime | None = None
        self._historizing: dict[str, bool] = {}
        self._wake = asyncio.Event()
        self.stats = {"values": 0, "backfilled": 0, "gaps": 0, "sessions": 0}

    # -- connection ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Open a session, resolve nodes, backfill, subscribe or start polling."""
        from asyncua import ua

        self._lost = asyncio.Event()
        folder = (
            Path(self.config.certificate_dir)
            if self.config.certificate_dir
            else self.context.state_dir / "pki"
        )
        client = await connect_client(
            self.config, folder, self.context.env, on_lost=self._connection_lost
        )
        self._client = client
        self.stats["sessions"] += 1
        try:
            await self._after_connect()
        except ConnectorError:
            await self.close()
            raise
        except (OSError, TimeoutError, ua.UaError) as err:
            await self.close()
            raise ConnectorNotReady(f"{self.config.endpoint}: {type(err).__name__}: {err}") from err

    async def _drop(self, client: Any) -> None:
        await disconnect_client(client)

    async def _connection_lost(self, exc: Exception) -> None:
        self._lost_reason = f"connection lost: {type(exc).__name__}: {exc}"
        self._lost.set()

    async def _after_connect(self) -> None:
        from asyncua import ua

        client = self._client
        started = await client.nodes.server.get_child(["0:ServerStatus", "0:StartTime"])
        start_time = await started.read_value()
        restarted = self._server_started is not None and start_time != self._server_started
        self._server_started = start_time
        nodes = list(self._routes)
        # one read for all nodes: does it exist, does the server keep history for it?
        params = ua.ReadParameters()
        for node_id in nodes:
            rv = ua.ReadValueId()
            rv.NodeId = ua.NodeId.from_string(node_id)
            rv.AttributeId = ua.AttributeIds.Historizing
            params.NodesToRead.append(rv)
        results = await client.uaclient.read(params) if nodes else []
        missing = []
        for node_id, result in zip(nodes, results, strict=True):
            if result.StatusCode.is_good():
                self._historizing[node_id] = bool(result.Value.Value)
            else:
                missing.append((node_id, result.StatusCode.name))
        for node_id, status in missing:
            bound, _ = self._routes[node_id]
            await self.context.reject(
                [
                    DeadLetter(
                        source=self.name,
                        location=node_id,
                        reason=f"node {node_id} for signal {bound.ref.path!r} is not readable on "
                        f"{self.config.endpoint}: {status}",
                        detail={"category": "unknown_node", "signal": bound.ref.path},
                    )
                ]
            )
        good = [n for n in nodes if n in self._historizing]
        await self._backfill(good, restarted)
        self._tasks.append(asyncio.create_task(self._flush_loop(), name=f"opcua-flush:{self.name}"))
        poll = [
            n
            for n in good
            if (self.options[self._routes[n][0].ref].mode or self.config.mode) == "poll"
        ]
        subscribe = [n for n in good if n not in poll]
        if subscribe:
            await self._subscribe(subscribe)
        if poll:
            self._tasks.append(
                asyncio.create_task(self._poll_loop(poll), name=f"opcua-poll:{self.name}")
            )

    async def _subscribe(self, node_ids: list[str]) -> None:
        from asyncua import ua
        from asyncua.common.subscription import OverflowPolicy

        client = self._client
        # Iterator mode: notifications queue up and one task drains them (the callback
        # mode spawns a task per value). A full queue forces a reconnect, after which
        # HistoryRead fills what was missed: values are never dropped silently.
        subscription = await client.create_subscription(
            self.config.publishing_interval_ms,
            None,
            queue_maxsize=200_000,
            overflow=OverflowPolicy.DISCONNECT,
        )
        events = subscription.__aiter__()
        groups: dict[tuple[float, int, float | None], list[str]] = defaultdict(list)
        for node_id in node_ids:
            options = self.options[self._routes[node_id][0].ref]
            key = (
                options.sampling_interval_ms
                if options.sampling_interval_ms is not None
                else self.config.sampling_interval_ms,
                options.queue_size if options.queue_size is not None else self.config.queue_size,
                options.deadband,
            )
            groups[key].append(node_id)
        for node_id in node_ids:
            bound, channel = self._routes[node_id]
            self._by_node_id[ua.NodeId.from_string(node_id)] = (bound, channel, node_id)
        self._tasks.append(
            asyncio.create_task(self._consume(events), name=f"opcua-consume:{self.name}")
        )
        for (sampling, queue, deadband), group in groups.items():
            nodes = [client.get_node(n) for n in group]
            if deadband is None:
                handles = await subscription.subscribe_data_change(
                    nodes, queuesize=queue, sampling_interval=sampling
                )
            else:
                handles = [
                    await subscription.deadband_monitor(
                        node, deadband, deadbandtype=1, queuesize=queue, sampling_interval=sampling
                    )
                    for node in nodes
                ]
            for node_id, handle in zip(
                group, handles if isinstance(handles, list) else [handles], strict=False
            ):
                if isinstance(handle, ua.StatusCode):
                    bound, _ = self._routes[node_id]
                    await self.context.reject(
                        [
                            DeadLetter(
                                self.name,
                                node_id,
                                f"server refused to monitor {node_id} ({bound.ref.path}): "
                                f"{handle.name}",
                                detail={"category": "subscribe_failed"},
                            )
                        ]
                    )

    async def _consume(self, events: Any) -> None:
        from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent

        async for event in events:
            if isinstance(event, DataChangeEvent):
                route = self._by_node_id.get(event.node.nodeid)
                if route is not None:
                    self._on_value(route[2], event.data.monitored_item.Value, route=route[:2])
            elif isinstance(event, StatusChangeEvent):
                self._on_status(event.notification)

    async def _poll_loop(self, node_ids: list[str]) -> None:
        from asyncua import ua

        interval = self.config.poll_interval_ms / 1000
        while True:
            params = ua.ReadParameters()
            params.TimestampsToReturn = ua.TimestampsToReturn.Both
            for node_id in node_ids:
                rv = ua.ReadValueId()
                rv.NodeId = ua.NodeId.from_string(node_id)
                rv.AttributeId = ua.AttributeIds.Value
                params.NodesToRead.append(rv)
            try:
                values = await self._client.uaclient.read(params)
            except Exception as err:  # the watchdog decides whether the connection is gone
                log.debug("opcua.poll_failed connector=%s error=%s", self.name, err)
            else:
                for node_id, value in zip(node_ids, values, strict=True):
                    self._on_value(node_id, value)
            await asyncio.sleep(interval)

    # -- values -------------------------------------------------------------------------

    def _on_status(self, status: Any) -> None:
        self._lost_reason = f"subscription status {status}"
        log.info("opcua.subscription_status connector=%s status=%s", self.name, status)

    def _on_value(
        self,
        node_id: str,
        value: Any,
        *,
        backfilled: bool = False,
        route: tuple[BoundSignal, int] | None = None,
    ) -> None:
        route = route or self._routes.get(node_id)
        if route is None:
            return
        bound, channel = route
        status = int(value.StatusCode.value) if value.StatusCode is not None else 0
        code = _QUALITY[(status >> 30) & 0b11]
        ts = (
            datetime_to_ns(value.SourceTimestamp)
            or datetime_to_ns(value.ServerTimestamp)
            or now_ns()
        )
        raw = value.Value.Value if value.Value is not None else None
        kind = bound.definition.kind
        self.stats["values"] += 1
        if kind == SignalKind.SCALAR:
            number, reason = scalar_value(raw, code)
            if number is None:
                self._reject(bound, node_id, ts, raw, reason or "unreadable")
                return
            if backfilled:
                self._pending.append(
                    ScalarBatch.of(
                        bound.ref,
                        [ts],
                        [number],
                        Provenance(self.name, node_id, True),
                        quality=code,
                        status_code=status,
                    )
                )
            else:
                buffer = self._scalars[bound.ref]
                buffer.ts.append(ts)
                buffer.values.append(number)
                buffer.quality.append(code)
                buffer.status.append(status)
        elif kind == SignalKind.WAVEFORM:
            options = self.options[bound.ref]
            rate = options.sample_rate_hz or bound.definition.sample_rate_hz or 0.0
            block, reason = to_waveform(
                bound,
                raw,
                ts,
                rate,
                Provenance(self.name, node_id, backfilled),
                Quality(code),
                status,
            )
            if block is None:
                self._reject(bound, node_id, ts, raw, reason or "unreadable")
                return
            if bound.definition.n_channels == 1:
                self._pending.append(block)
            else:
                self._assemble(bound, channel, block, backfilled)
        else:
            self._pending.append(
                to_event(bound, raw, ts, Provenance(self.name, node_id, backfilled), Quality(code))
            )
        self._last_ts[bound.ref] = max(ts, self._last_ts.get(bound.ref, 0))
        if len(self._pending) > 64:
            self._wake.set()

    def _assemble(
        self, bound: BoundSignal, channel: int, block: WaveformBlock, backfilled: bool
    ) -> None:
        state = self._channels.setdefault(bound.ref, _Channels(bound.definition.n_channels))
        parts = state.parts.setdefault(block.t0_ns, {})
        parts[channel] = block.data
        state.quality[block.t0_ns] = max(state.quality.get(block.t0_ns, 0), int(block.quality))
        if len(parts) == state.n:
            lengths = {len(p) for p in parts.values()}
            del state.parts[block.t0_ns]
            quality = Quality(state.quality.pop(block.t0_ns))
            if len(lengths) != 1:
                self._reject(
                    bound,
                    bound.address,
                    block.t0_ns,
                    None,
                    f"channel arrays differ in length: {sorted(lengths)}",
                )
                return
            data = np.stack([parts[i] for i in range(state.n)], axis=1)
            self._pending.append(
                WaveformBlock(
                    bound.ref,
                    block.t0_ns,
                    block.sample_rate_hz,
                    data,
                    block.unit,
                    Provenance(self.name, bound.address, backfilled),
                    quality,
                    block.status_code,
                )
            )
        # blocks whose siblings never came (3 block lengths late) are dead-lettered
        horizon = block.t0_ns - int(3 * block.duration_s * 1e9)
        for t0 in [t for t in state.parts if t < horizon]:
            have = sorted(state.parts.pop(t0))
            state.quality.pop(t0, None)
            self._reject(
                bound,
                bound.address,
                t0,
                None,
                f"incomplete block: only channels {have} of {state.n} arrived",
            )

    def _reject(self, bound: BoundSignal, node_id: str, ts: int, raw: Any, reason: str) -> None:
        text = repr(raw)
        self._letters.append(
            DeadLetter(
                source=self.name,
                location=node_id,
                reason=f"{bound.ref.path}: {reason}",
                payload=text[:2000],
                detail={"category": "bad_value", "signal": bound.ref.path, "ts_ns": ts},
            )
        )
        self._wake.set()

    def _take(self) -> tuple[list[Record], list[DeadLetter]]:
        records: list[Record] = []
        received = now_ns()
        for ref, buffer in self._scalars.items():
            if buffer.ts:
                n = len(buffer.ts)
                records.append(
                    ScalarBatch(
                        ref,
                        np.fromiter(buffer.ts, np.int64, n),
                        np.fromiter(buffer.values, np.float64, n),
                        np.fromiter(buffer.quality, np.uint8, n),
                        np.fromiter(buffer.status, np.uint32, n),
                        np.full(n, received, dtype=np.int64),
                        self._provenance[ref],
                    )
                )
        self._scalars.clear()
        records.extend(self._pending)
        self._pending = []
        letters, self._letters = self._letters, []
        return records, letters

    async def _flush(self) -> None:
        records, letters = self._take()
        if letters:
            await self.context.reject(letters)
        if records:
            await self.context.emit(records)

    async def _flush_loop(self) -> None:
        interval = self.config.flush_interval_ms / 1000
        while True:
            # asyncio.timeout keeps a cancellation from close() (wait_for may lose it)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            await self._flush()

    # -- gaps -----------------------------------------------------------------------------

    async def _backfill(self, node_ids: list[str], restarted: bool) -> None:
        """Read what was missed since the last value of each signal.

        What history does not cover (no history, or a hole longer than a few publishing
        intervals) is recorded as a ``gap`` event with its time range.
        """
        now = now_ns()
        threshold = max(2 * NS_PER_S, round(3 * self.config.publishing_interval_ms * 1e6))
        reported: set[SignalRef] = set()
        for node_id in node_ids:
            bound, _ = self._routes[node_id]
            last = self._last_ts.get(bound.ref)
            if last is None or bound.ref in reported:
                continue
            first_found: int | None = None
            if self.config.history_backfill and self._historizing.get(node_id):
                first_found = await self._read_history(node_id, last, now)
            hole_end = now if first_found is None else first_found
            if hole_end - last <= threshold:
                continue
            reported.add(bound.ref)
            self.stats["gaps"] += 1
            cause = "server restart" if restarted else "connection lost"
            if not self._historizing.get(node_id):
                why = "the server keeps no history for this node"
            elif first_found is None:
                why = "its history holds nothing for that time"
            else:
                why = "its history starts later"
            self._pending.append(
                EventRecord(
                    bound.ref,
                    last + 1,
                    "gap",
                    Provenance(self.name, node_id),
                    message=(
                        f"no data from {self.config.endpoint} for "
                        f"{(hole_end - last) / NS_PER_S:.1f} s ({cause}); {why}"
                    ),
                    severity="warning",
                    attributes={
                        "from_ns": last,
                        "to_ns": hole_end,
                        "cause": cause,
                        "seconds": round((hole_end - last) / NS_PER_S, 3),
                    },
                )
            )
        await self._flush()

    async def _read_history(self, node_id: str, after_ns: int, until_ns: int) -> int | None:
        """Backfill ``(after_ns, until_ns]``; return the first timestamp found, if any."""
        start_ns = max(after_ns + 1000, until_ns - int(self.config.max_backfill_s * 1e9))
        start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=start_ns // 1000)
        end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=until_ns // 1000)
        node = self._client.get_node(node_id)
        try:
            values = await node.read_raw_history(start, end)
        except Exception as err:  # the server says no history: the gap is recorded instead
            log.info(
                "opcua.history_unavailable connector=%s node=%s error=%s", self.name, node_id, err
            )
            return None
        count = 0
        first: int | None = None
        for value in values:
            ts = datetime_to_ns(value.SourceTimestamp)
            if ts is None or ts <= after_ns:
                continue
            self._on_value(node_id, value, backfilled=True)
            first = ts if first is None else min(first, ts)
            count += 1
        self.stats["backfilled"] += count
        if count:
            log.info("opcua.backfilled connector=%s node=%s values=%d", self.name, node_id, count)
        return first

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Wait until the connection is lost, then raise so the engine reconnects."""
        await self._lost.wait()
        raise ConnectorNotReady(self._lost_reason or "connection lost")

    async def close(self) -> None:
        """Stop tasks, hand on buffered values, end the session."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._flush()
        client, self._client = self._client, None
        if client is not None:
            await self._drop(client)

    async def write(self, address: str, value: Any) -> None:
        """Write ``value`` to node ``address`` (only for configured write-back targets)."""
        from asyncua import ua

        if self._client is None:
            raise ConnectorNotReady(f"connector {self.name!r} is not connected")
        node = self._client.get_node(address)
        try:
            variant_type = await node.read_data_type_as_variant_type()
            await node.write_value(ua.DataValue(ua.Variant(value, variant_type)))
        except Exception as err:
            raise ConnectorError(
                f"writing {value!r} to {address} on {self.config.endpoint} failed: {err}"
            ) from err
