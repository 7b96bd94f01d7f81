"""The OPC UA connector (asyncua).

Per connection: open the session (security and credentials as configured), resolve every
bound node, fill the gap since the last connection from the server's history where it
keeps one (records marked ``backfilled``) or record the gap as an event, then subscribe
(sampling interval, queue size and deadband per signal) or poll. Scalar values are
batched per signal for ``flush_interval_ms``; arrays become waveform blocks, assembled
across channel nodes for multi-channel signals. Status codes are kept as quality.

Connection loss is detected by asyncua's watchdog; ``run`` then raises
``ConnectorNotReady`` and the engine reconnects with backoff, which brings the session,
every subscription and the backfill back. Each loss is one warning line
(``opcua.connection_lost``); asyncua's own warnings and tracebacks about it are demoted
to debug records. The backfill is read page by page and handed on between pages, array
nodes have a subscription queue bounded in blocks, and the consumer waits for the
engine once 64 MB of samples are pending, so memory stays bounded under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
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
from shopfloor.connectors.quiet import demote_to_debug
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

__all__ = ["OpcUaConnector", "connect_client", "disconnect_client", "quiet_asyncua_loggers"]

# Quality by the two severity bits of a status code (11 is bad too)
_QUALITY = (int(Quality.GOOD), int(Quality.UNCERTAIN), int(Quality.BAD), int(Quality.BAD))

log = logging.getLogger(__name__)

_SCALAR_QUEUE = 200_000
"""Scalar notifications waiting for the consumer (a few hundred bytes each)."""
_BLOCKS_QUEUED_PER_NODE = 32
"""Array notifications waiting per array node; when full the connector reconnects."""
_MAX_PENDING_SAMPLES = 8_000_000
"""Waveform samples decoded and waiting for the engine (64 MB) before the consumer waits."""
_HISTORY_PAGE = {SignalKind.WAVEFORM: 16, SignalKind.SCALAR: 10_000, SignalKind.EVENT: 10_000}
"""Values per HistoryRead request and node: a backfill is handed on page by page."""


def _auth_errors() -> tuple[type[Exception], ...]:
    from asyncua.ua import uaerrors

    names = (
        "BadUserAccessDenied",
        "BadIdentityTokenRejected",
        "BadIdentityTokenInvalid",
        "BadSecurityChecksFailed",
        "BadSecurityPolicyRejected",
        "BadSecurityModeRejected",
        "BadCertificateInvalid",
        "BadCertificateUntrusted",
        "BadCertificateRevoked",
        "BadCertificateTimeInvalid",
        "BadCertificateHostNameInvalid",
        "BadCertificateUriInvalid",
        "BadCertificateUseNotAllowed",
        "BadCertificateIssuerRevocationUnknown",
        "BadCertificateRevocationUnknown",
        "BadNoValidCertificates",
        "BadApplicationSignatureInvalid",
        "BadUserSignatureInvalid",
    )
    return tuple(getattr(uaerrors, n) for n in names if hasattr(uaerrors, n))


_AUTH_ERRORS = _auth_errors()
"""asyncua's error classes (one per status code) that mean: credentials or certificate."""

# asyncua logs a warning plus a full traceback from several places on every connection
# loss; the connector logs one line per event itself, so these become debug records.
_NOISY_LOGGERS = (
    "asyncua.client.client",
    "asyncua.client.ua_client",
    "asyncua.client.ua_client.UASocketProtocol",
    "asyncua.client.ua_client.UaClient",
    "asyncua.client.ua_session",
    "asyncua.client.ua_session.UaSession",
    "asyncua.common.subscription",
)


def quiet_asyncua_loggers() -> None:
    """Demote asyncua's client warnings and tracebacks to debug (idempotent).

    The connector reports each connection event in one line at warning level
    (``opcua.connection_lost``); asyncua's own account stays available at debug level.
    """
    demote_to_debug(*_NOISY_LOGGERS)


async def _offered_endpoints(config: OpcUaConfig) -> str:
    """What the server offers (policy/mode pairs), for an error message."""
    from asyncua import Client

    probe = Client(config.endpoint, timeout=config.request_timeout_s)
    try:
        async with asyncio.timeout(config.request_timeout_s * 2):
            endpoints = await probe.connect_and_get_server_endpoints()
    except Exception as err:  # the message still says what was asked for
        return f"nothing readable ({type(err).__name__})"
    pairs = sorted(
        {
            f"{ep.SecurityPolicyUri.rsplit('#', 1)[-1]}/{ep.SecurityMode.name.rstrip('_')}"
            for ep in endpoints
        }
    )
    return ", ".join(pairs) or "no endpoint at all"


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
    quiet_asyncua_loggers()
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
        async with asyncio.timeout(config.request_timeout_s * 2):
            await client.connect()
    except ua.UaStatusCodeError as err:
        await disconnect_client(client)
        name = ua.StatusCode(err.code).name
        if isinstance(err, _AUTH_ERRORS):
            raise ConnectorAuthError(f"{config.endpoint} refused the session: {name}") from err
        raise ConnectorNotReady(f"{config.endpoint}: {name}: {err}") from err
    except TimeoutError as err:
        await disconnect_client(client)
        raise ConnectorNotReady(
            f"no answer from {config.endpoint} within {config.request_timeout_s:g} s"
        ) from err
    except ua.UaError as err:
        await disconnect_client(client)
        # asyncua raises a bare UaError here (no status code, no subclass of its own)
        if str(err).startswith("No matching endpoints"):
            offered = await _offered_endpoints(config)
            raise ConnectorNotReady(
                f"{config.endpoint} offers no endpoint with security "
                f"{config.security_policy}/{config.security_mode}; it offers {offered}"
            ) from err
        raise ConnectorNotReady(f"{config.endpoint}: {type(err).__name__}: {err}") from err
    except Exception as err:  # asyncua raises plain OSError, ValueError...
        await disconnect_client(client)
        text = str(err) or "no detail"
        raise ConnectorNotReady(f"{config.endpoint}: {type(err).__name__}: {text}") from err
    return client


def _hole(
    start_ns: int, stamps: list[int], span_ns: int, restart_ns: int | None, now: int
) -> tuple[int, int | None]:
    """The stretch ``(from, to)`` after ``start_ns`` that history leaves uncovered.

    ``stamps`` are the (sorted) timestamps history returned, each value covering
    ``span_ns`` (a waveform block's length; 0 for scalars). While the server kept running
    its history is whole from its first value on. After a restart (``restart_ns``, the
    server's start time) history is whole before the stop and after the start: the hole
    is the longest interval between values that begins before the restart. ``to`` is
    ``None`` when no value follows the hole (no history, or none since the restart): it
    ends at the first value the subscription delivers, which is not known yet (``now``
    only weighs such a hole against the others).

    >>> _hole(0, [5, 6, 7], 0, None, 10)
    (0, 5)
    >>> _hole(0, [], 0, None, 10)
    (0, None)
    >>> _hole(0, [1, 2, 8, 9], 0, 7, 10)
    (2, 8)
    >>> _hole(0, [1, 2], 0, 7, 10)
    (2, None)
    """
    if restart_ns is None:
        return start_ns, stamps[0] if stamps else None
    ends = [start_ns, *(ts + span_ns for ts in stamps)]
    begins: list[int | None] = [*stamps, None]
    best: tuple[int, int | None] = (start_ns, start_ns)
    longest = 0
    for begin_gap, end_gap in zip(ends, begins, strict=True):
        if begin_gap >= restart_ns:
            break
        length = (now if end_gap is None else end_gap) - begin_gap
        if length > longest:
            best, longest = (begin_gap, end_gap), length
    return best


_TRIGGERS = {"status": 0, "status_value": 1, "status_value_timestamp": 2}
"""OPC UA ``DataChangeTrigger`` values by the names the configuration uses."""


def _monitor_request(
    node: Any,
    trigger: str,
    deadband: float | None,
    queue_size: int,
    sampling_ms: float,
    handle: int,
) -> Any:
    """A monitored item for ``node``: its trigger, optional absolute deadband and sampling.

    The data change filter is always sent: without one a server reports changes of value
    or status only, and a value sampled again unchanged would never arrive.
    """
    from asyncua import ua

    data_filter = ua.DataChangeFilter()
    data_filter.Trigger = ua.DataChangeTrigger(_TRIGGERS[trigger])
    if deadband is not None:
        data_filter.DeadbandType = ua.UInt32(ua.DeadbandType.Absolute)
        data_filter.DeadbandValue = ua.Double(deadband)
    item = ua.ReadValueId()
    item.NodeId = node.nodeid
    item.AttributeId = ua.AttributeIds.Value
    params = ua.MonitoringParameters()
    params.ClientHandle = ua.UInt32(handle)
    params.SamplingInterval = ua.Double(sampling_ms)
    params.QueueSize = ua.UInt32(queue_size)
    params.DiscardOldest = True
    params.Filter = data_filter
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = item
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = params
    return request


class _Scalars:
    """Values of one scalar signal waiting for the next flush."""

    __slots__ = ("quality", "status", "ts", "values")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.values: list[float] = []
        self.quality: list[int] = []
        self.status: list[int] = []


@dataclass(frozen=True, slots=True)
class _Gap:
    """A hole of one signal that no value read so far closes: it waits for a live value."""

    ref: SignalRef
    node_id: str
    start_ns: int
    """The last value before the hole (or where data stopped flowing)."""
    cause: str
    why: str
    reconnect_ns: int
    """When the session that found the hole opened: the end if no newer value comes."""


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
        # length of the last waveform block: its data reaches that far past its start
        self._block_ns: dict[SignalRef, int] = {}
        # newest source timestamp per node: a value re-sent on resubscribe is not new
        self._node_ts: dict[str, int] = {}
        # when data last flowed, in the server's time (the newest source timestamp received
        # live): a gap starts there, not at a slowly changing node's last change. Never the
        # client's clock: its skew, or a consumer running late, would move the start past
        # values that were served and never received.
        self._alive_ns = 0
        # gaps whose end is the first live value of their signal, not yet received
        self._open_gaps: dict[SignalRef, _Gap] = {}
        # last recorded state of each event signal: only changes become events
        self._last_event: dict[SignalRef, tuple[str, int]] = {}
        # Resume where the store left off: the first connect after a platform start
        # backfills (or records a gap) from there, as a reconnect does.
        self._last_ts.update(context.resume)
        self._server_started: datetime | None = None
        self._historizing: dict[str, bool] = {}
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._pending_samples = 0
        # client handles of monitored items (asyncua numbers its own from 200 up)
        self._handle = 1_000_000
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
        self._lost_reason = f"connection lost: {type(exc).__name__}: {exc or 'no detail'}"
        log.warning(
            "opcua.connection_lost connector=%s endpoint=%s error=%s",
            self.name,
            self.config.endpoint,
            self._lost_reason.removeprefix("connection lost: "),
        )
        log.debug("opcua.connection_lost_detail connector=%s", self.name, exc_info=exc)
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
        arrays = [n for n in subscribe if self._routes[n][0].definition.kind == SignalKind.WAVEFORM]
        scalars = [n for n in subscribe if n not in arrays]
        feeds = []
        if scalars:
            feeds.append(await self._subscribe(scalars, _SCALAR_QUEUE))
        if arrays:
            # an array notification is ~30 bytes per sample once decoded: its own queue,
            # bounded by blocks, keeps a stalled consumer from holding gigabytes
            feeds.append(await self._subscribe(arrays, _BLOCKS_QUEUED_PER_NODE * len(arrays)))
        # What was published between the backfill and the monitored items' creation is in
        # neither: read it now, before the first notification is handed on (the
        # subscription queues them meanwhile, and repeats of what history gave are dropped).
        await self._catch_up(subscribe)
        for events in feeds:
            self._tasks.append(
                asyncio.create_task(self._consume(events), name=f"opcua-consume:{self.name}")
            )
        if poll:
            self._tasks.append(
                asyncio.create_task(self._poll_loop(poll), name=f"opcua-poll:{self.name}")
            )

    async def _subscribe(self, node_ids: list[str], queue_maxsize: int) -> Any:
        """Monitor ``node_ids`` in a new subscription; its notifications, not yet read."""
        from asyncua import ua
        from asyncua.common.subscription import OverflowPolicy

        client = self._client
        # Iterator mode: notifications queue up and one task drains them (the callback
        # mode spawns a task per value). A full queue forces a reconnect, after which
        # HistoryRead fills what was missed: values are never dropped silently.
        subscription = await client.create_subscription(
            self.config.publishing_interval_ms,
            None,
            queue_maxsize=queue_maxsize,
            overflow=OverflowPolicy.DISCONNECT,
        )
        events = subscription.__aiter__()
        groups: dict[tuple[float, int, float | None, str], list[str]] = defaultdict(list)
        for node_id in node_ids:
            options = self.options[self._routes[node_id][0].ref]
            key = (
                options.sampling_interval_ms
                if options.sampling_interval_ms is not None
                else self.config.sampling_interval_ms,
                options.queue_size if options.queue_size is not None else self.config.queue_size,
                options.deadband,
                # a deadband means "only larger changes": a trigger on the timestamp would
                # report every sample anyway, so a deadband signal defaults to status_value
                options.data_change_trigger
                or ("status_value" if options.deadband is not None else None)
                or self.config.data_change_trigger,
            )
            groups[key].append(node_id)
        for node_id in node_ids:
            bound, channel = self._routes[node_id]
            self._by_node_id[ua.NodeId.from_string(node_id)] = (bound, channel, node_id)
        for (sampling, queue, deadband, trigger), group in groups.items():
            requests = []
            for node_id in group:
                self._handle += 1
                node = client.get_node(node_id)
                requests.append(
                    _monitor_request(node, trigger, deadband, queue, sampling, self._handle)
                )
            handles = await subscription.create_monitored_items(requests)
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
        return events

    async def _consume(self, events: Any) -> None:
        from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent

        async for event in events:
            if isinstance(event, DataChangeEvent):
                route = self._by_node_id.get(event.node.nodeid)
                if route is not None:
                    self._on_value(route[2], event.data.monitored_item.Value, route=route[:2])
            elif isinstance(event, StatusChangeEvent):
                self._on_status(event.notification)
            if self._pending_samples > _MAX_PENDING_SAMPLES:
                # the engine is behind: wait for the flush instead of piling up blocks (the
                # subscription queue fills meanwhile; when full, a reconnect and backfill)
                self._drained.clear()
                self._wake.set()
                await self._drained.wait()

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
        if self._open_gaps:
            self._end_gap(bound.ref, ts)  # even by a repeat: data flows again
        if ts <= self._node_ts.get(node_id, -1):
            return  # already recorded (the current value is sent again on resubscribe)
        self._node_ts[node_id] = ts
        if not backfilled:
            self._alive_ns = max(self._alive_ns, ts)
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
            expected = options.samples_per_block
            if expected is not None and block.n_samples != expected:
                self._reject(
                    bound,
                    node_id,
                    ts,
                    None,
                    f"array of {block.n_samples} samples, source_options.samples_per_block "
                    f"is {expected}",
                )
                return
            self._block_ns[bound.ref] = round(block.duration_s * NS_PER_S)
            self._pending_samples += block.data.size
            if bound.definition.n_channels == 1:
                self._pending.append(block)
            else:
                # the signal's last timestamp moves when a block is whole (in _assemble)
                self._assemble(bound, channel, block, backfilled)
                return
        else:
            event = to_event(
                bound, raw, ts, Provenance(self.name, node_id, backfilled), Quality(code)
            )
            state = (event.message, int(code))
            if self._last_event.get(bound.ref) == state:
                return  # not a change (a resubscribe or history repeats the current state)
            self._last_event[bound.ref] = state
            self._pending.append(event)
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
            self._last_ts[bound.ref] = max(block.t0_ns, self._last_ts.get(bound.ref, 0))
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
        self._pending_samples = 0
        self._drained.set()
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

        The hole of a signal starts at its last value or when data last flowed on the
        connection (the newest source timestamp received live), whichever is later (a
        slowly changing node's last change is not when the connection dropped); a
        waveform's hole starts where its last block ends.
        Every channel node of a multi-channel waveform is read from the same point, and
        the channels are handed on interleaved by time so each block finds its siblings;
        the hole ends where all of them have data again. What history does not cover
        (no history, or a hole longer than a few publishing intervals) is recorded as one
        ``gap`` event per signal with its time range. After a server restart (its
        ``StartTime`` changed) the hole is what lies between the history kept before the
        restart and the first value after it. A hole that no value read here closes ends
        at the first live value of the signal: its event waits for that value, or for
        the end of the session (it then ends at the reconnect).
        """
        self._close_gaps()  # a session that ended without a value leaves none open
        now = now_ns()
        started = datetime_to_ns(self._server_started) if restarted else None
        threshold = max(2 * NS_PER_S, round(3 * self.config.publishing_interval_ms * 1e6))
        by_signal: dict[SignalRef, list[str]] = defaultdict(list)
        bound_of: dict[SignalRef, BoundSignal] = {}
        for node_id in node_ids:
            bound, _ = self._routes[node_id]
            by_signal[bound.ref].append(node_id)
            bound_of[bound.ref] = bound
        # snapshot: reading one channel's history must not move the others' start
        last_seen = {ref: self._last_ts.get(ref) for ref in by_signal}
        for ref, nodes in by_signal.items():
            last = last_seen[ref]
            if last is None:
                continue
            if bound_of[ref].definition.kind == SignalKind.WAVEFORM:
                # the next block was not due before its predecessor's end
                hole_start = last + self._block_ns.get(ref, 0)
            else:
                # a value holds until it changes: the hole starts when data stopped flowing
                hole_start = max(last, self._alive_ns)
            span = self._block_ns.get(ref, 0)
            stamps = await self._backfill_signal(ref, nodes, last, now)
            holes = [_hole(hole_start, found, span, started, now) for found in stamps]
            total = sum(len(found) for found in stamps)
            if total:
                log.info(
                    "opcua.backfilled connector=%s signal=%s values=%d",
                    self.name,
                    ref.path,
                    total,
                )
            hole_start = min(h[0] for h in holes)
            ends = [h[1] for h in holes]
            hole_end = None if None in ends else max(e for e in ends if e is not None)
            if (now if hole_end is None else hole_end) - hole_start <= threshold:
                continue
            self.stats["gaps"] += 1
            cause = "server restart" if restarted else "connection lost"
            if not all(self._historizing.get(n) for n in nodes):
                why = "the server keeps no history for this node"
            elif not total:
                why = "its history holds nothing for that time"
            else:
                why = "its history does not cover it"
            gap = _Gap(ref, nodes[0], hole_start, cause, why, now)
            if hole_end is None:
                # nothing read after the hole: it ends where the subscription resumes
                self._open_gaps[ref] = gap
            else:
                self._pending.append(self._gap_event(gap, hole_end))
            log.warning(
                "opcua.gap connector=%s signal=%s seconds=%.1f cause=%s",
                self.name,
                bound_of[ref].ref.path,
                ((now if hole_end is None else hole_end) - hole_start) / NS_PER_S,
                cause.replace(" ", "_"),
            )
        await self._flush()

    async def _catch_up(self, node_ids: list[str]) -> None:
        """Read history from each signal's newest value on (a short stretch), oldest first.

        Called once the monitored items exist: together with what they deliver, this
        leaves no value out, however long the subscription took to set up.
        """
        by_signal: dict[SignalRef, list[str]] = defaultdict(list)
        for node_id in node_ids:
            if self.config.history_backfill and self._historizing.get(node_id):
                by_signal[self._routes[node_id][0].ref].append(node_id)
        now = now_ns()
        for ref, nodes in by_signal.items():
            last = self._last_ts.get(ref)
            if last is not None:
                await self._backfill_signal(ref, nodes, last, now)

    def _gap_event(self, gap: _Gap, end_ns: int) -> EventRecord:
        """The ``gap`` event of ``gap``, ending at ``end_ns``.

        Its ``from_ns`` is the last value before the hole and its ``to_ns`` the first
        after it: what is missing lies strictly between the two.
        """
        seconds = (end_ns - gap.start_ns) / NS_PER_S
        return EventRecord(
            gap.ref,
            gap.start_ns + 1,
            "gap",
            Provenance(self.name, gap.node_id),
            message=(
                f"no data from {self.config.endpoint} for {seconds:.1f} s ({gap.cause}); {gap.why}"
            ),
            severity="warning",
            attributes={
                "from_ns": gap.start_ns,
                "to_ns": end_ns,
                "cause": gap.cause,
                "seconds": round(seconds, 3),
            },
        )

    def _end_gap(self, ref: SignalRef, ts: int) -> None:
        """The first value of ``ref`` after its open gap (source time ``ts``) ends it.

        A value from before the gap (the current value sent again on subscribe) tells
        only that data flows again: the gap then ends at the reconnect.
        """
        gap = self._open_gaps.pop(ref, None)
        if gap is not None:
            end = ts if ts > gap.start_ns else gap.reconnect_ns
            self._pending.append(self._gap_event(gap, end))
            self._wake.set()

    def _close_gaps(self) -> None:
        """Record every gap still open (no live value came): it ends at the reconnect."""
        gaps, self._open_gaps = self._open_gaps, {}
        for gap in gaps.values():
            self._pending.append(self._gap_event(gap, gap.reconnect_ns))

    async def _backfill_signal(
        self, ref: SignalRef, nodes: list[str], after_ns: int, now: int
    ) -> list[list[int]]:
        """Backfill one signal from ``after_ns`` on, page by page; the stamps per node.

        Every channel node is read from the same point, a page at a time; the values of
        a page are handed on interleaved by time (so each block finds its siblings) and
        flushed before the next page is read, so a long backfill never sits in memory.
        """
        kind = self._routes[nodes[0]][0].definition.kind
        page = _HISTORY_PAGE[kind]
        stamps: list[list[int]] = [[] for _ in nodes]
        readable = [self.config.history_backfill and bool(self._historizing.get(n)) for n in nodes]
        cursor = max(after_ns, now - int(self.config.max_backfill_s * 1e9))
        while any(readable):
            merged: list[tuple[int, int, str, Any]] = []
            page_ends: list[int] = []
            for channel, node_id in enumerate(nodes):
                if not readable[channel]:
                    continue
                answer = await self._read_history(node_id, cursor, page)
                if answer is None:
                    readable[channel] = False
                    continue
                values, full = answer
                found = [datetime_to_ns(v.SourceTimestamp) or 0 for v in values]
                stamps[channel].extend(found)
                merged.extend(
                    (ts, channel, node_id, v) for ts, v in zip(found, values, strict=True)
                )
                if full and found:
                    page_ends.append(found[-1])
            merged.sort(key=lambda item: (item[0], item[1]))
            for _, _, node_id, value in merged:
                self._on_value(node_id, value, backfilled=True)
            self.stats["backfilled"] += len(merged)
            await self._flush()
            if not page_ends:
                break
            # values up to the earliest full page's end are complete on every channel;
            # a channel read past it is read again from there (repeats are dropped)
            cursor = min(page_ends)
            if cursor >= now:
                break  # the rest arrives by subscription: never chase a live producer
        return [sorted(set(found)) for found in stamps]

    async def _read_history(
        self, node_id: str, after_ns: int, count: int
    ) -> tuple[list[Any], bool] | None:
        """Up to ``count`` values after ``after_ns`` from the history, oldest first.

        The end is left open: the server's clock decides what "now" is. A server may
        answer with fewer values than asked and a continuation point (its own limit per
        response): the continuation is followed until ``count`` values are in. Returns
        the values and whether more may follow (the page is full or the server still
        holds a continuation point), or ``None`` when the server refuses (it keeps no
        history for the node).
        """
        from asyncua import ua

        details = ua.ReadRawModifiedDetails()
        details.IsReadModified = False
        details.StartTime = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=after_ns // 1000 + 1
        )
        details.EndTime = ua.get_win_epoch()  # unspecified: up to the newest value
        details.NumValuesPerNode = ua.UInt32(count)
        details.ReturnBounds = False
        node = self._client.get_node(node_id)
        values: list[Any] = []
        cont: bytes | None = None
        try:
            while True:
                result = await node.history_read(details, cont)
                result.StatusCode.check()
                values.extend(result.HistoryData.DataValues or [])
                previous, cont = cont, result.ContinuationPoint or None
                if cont is None or cont == previous or len(values) >= count:
                    break
        except Exception as err:  # the server says no history: the gap is recorded instead
            log.info(
                "opcua.history_unavailable connector=%s node=%s error=%s", self.name, node_id, err
            )
            return None
        out = []
        for value in values:
            ts = datetime_to_ns(value.SourceTimestamp)
            if ts is not None and ts > after_ns:
                out.append((ts, value))
        out.sort(key=lambda item: item[0])
        more = len(values) >= count or (cont is not None and cont != previous)
        return [value for _, value in out], more

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
        self._close_gaps()
        with contextlib.suppress(Exception):
            await self._flush()
        client, self._client = self._client, None
        if client is not None:
            await self._drop(client)

    async def write(self, address: str, value: Any) -> Any:
        """Write ``value`` to node ``address`` as the server types it; the value read back.

        Only for the project's write-back allow-list (see
        :func:`~shopfloor.connectors.opcua.writer.write_verified` for the errors).
        """
        from shopfloor.connectors.opcua.writer import write_verified

        if self._client is None or self._lost.is_set():
            raise ConnectorNotReady(f"connector {self.name!r} is not connected")
        return await write_verified(
            self._client,
            address,
            value,
            where=self.config.endpoint,
            timeout_s=self.config.request_timeout_s,
        )
