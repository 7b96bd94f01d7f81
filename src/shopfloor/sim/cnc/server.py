"""The CNC simulator as a real OPC UA server: :class:`CncSimServer` (asyncua).

The server publishes :class:`~shopfloor.sim.cnc.machine.CncMachineModel` on loopback:
scalars every ``1 / scalar_rate_hz`` (source timestamps on a regular grid), one array of
Double per axis and vibration block (source timestamp = first sample), with optional
in-memory history, security, simulated sensor failures, and a record of every write a
client makes (the platform writes alarms back to ``<machine>.Alarm.*``).

The model is a pure function of time, so :meth:`CncSimServer.stop` then
:meth:`CncSimServer.start` (same port, even when it was picked from port 0) continues
exactly where the wall clock says; in-memory history and the write record survive an
in-process restart.

Examples
--------
>>> import asyncio
>>> from shopfloor.sim.cnc import CncSimConfig, CncSimServer
>>> async def main() -> str:
...     async with CncSimServer(CncSimConfig(port=0, history=False)) as sim:
...         return sim.node_id("Spindle.Speed")
>>> asyncio.run(main())
'ns=2;s=CNC01.Spindle.Speed'
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import numpy as np
import numpy.typing as npt
from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.node import Node
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes

from shopfloor.errors import ConfigError
from shopfloor.model import format_ns, now_ns, to_ns
from shopfloor.model.timestamps import to_datetime
from shopfloor.sim.cnc.config import (
    CncSimConfig,
    SecurityMode,
    SensorFault,
    SensorStatus,
)
from shopfloor.sim.cnc.history import BoundedHistory
from shopfloor.sim.cnc.machine import CncMachineModel
from shopfloor.sim.cnc.nodes import (
    NODES,
    UNECE_UNITS,
    VIBRATION_AXES,
    DataType,
    NodeKind,
    NodeSpec,
    node_spec,
    unece_unit_id,
)
from shopfloor.sim.cnc.security import ensure_server_certificate

__all__ = ["CncSimServer", "SimStatus", "WriteRecord"]

logger = logging.getLogger(__name__)

NS = 1_000_000_000
MAX_BLOCKS_BEHIND = 3
"""When publishing falls further behind (time_scale too high), older blocks are skipped."""
MAX_SCALAR_CATCH_UP = 50
"""Scalar ticks published late after a stall; beyond this the missed ones are skipped."""
UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"

_VARIANT = {
    DataType.BOOLEAN: ua.VariantType.Boolean,
    DataType.INT32: ua.VariantType.Int32,
    DataType.UINT32: ua.VariantType.UInt32,
    DataType.DOUBLE: ua.VariantType.Double,
    DataType.STRING: ua.VariantType.String,
}
_DATA_TYPE_ID = {
    DataType.BOOLEAN: ObjectIds.Boolean,
    DataType.INT32: ObjectIds.Int32,
    DataType.UINT32: ObjectIds.UInt32,
    DataType.DOUBLE: ObjectIds.Double,
    DataType.STRING: ObjectIds.String,
}
_DEFAULT: dict[DataType, bool | int | float | str] = {
    DataType.BOOLEAN: False,
    DataType.INT32: 0,
    DataType.UINT32: 0,
    DataType.DOUBLE: 0.0,
    DataType.STRING: "",
}
_SECURITY_POLICIES = {
    SecurityMode.NONE: [ua.SecurityPolicyType.NoSecurity],
    SecurityMode.SIGN: [ua.SecurityPolicyType.Basic256Sha256_Sign],
    SecurityMode.ENCRYPT: [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
}


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One write a client made to the simulator (accepted or refused)."""

    received_ns: int
    node_id: str
    name: str
    """Node name below the machine (``Alarm.Active``), or ``''`` for other nodes."""
    attribute: str
    value: Any
    status: str
    """``Good``, or the status the server answered (``BadUserAccessDenied``, ...)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, with the time as ISO 8601 text."""
        return {"received_at": format_ns(self.received_ns), **asdict(self)}


@dataclass(frozen=True, slots=True)
class SimStatus:
    """A snapshot for progress reports."""

    sim_time_ns: int
    state: str
    speed_rpm: float
    fault_severity: float
    blocks_published: int
    blocks_skipped: int
    writes: int


@dataclass(frozen=True, slots=True)
class _Security:
    cert: Path
    key: Path
    validator: CertificateValidator | None


@dataclass(frozen=True, slots=True)
class _Window:
    signals: frozenset[str]
    start_ns: int
    end_ns: int
    status: SensorStatus


def _node_id(identifier: str | int, ns: int = 0) -> ua.NodeId:
    """A typed NodeId (asyncua annotates its fields with its own str/int subclasses)."""
    if isinstance(identifier, int):
        return ua.NodeId(ua.Int32(identifier), ua.Int16(ns))
    return ua.NodeId(ua.String(identifier), ua.Int16(ns))


def _ua_time(ns: int) -> ua.DateTime:
    """UTC nanoseconds as the aware datetime asyncua expects (typed as its DateTime)."""
    return cast(ua.DateTime, to_datetime(ns))


def _status(code: int) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(code))


class _Samples(list[float]):
    """A block of samples that asyncua may share instead of deep-copying.

    asyncua deep-copies every value for every monitored item (its history subscription
    and each client's); for a 25600-float list that is ~4 ms per copy on the event
    loop. The simulator builds a fresh list per block and never mutates it, so sharing
    is safe; asyncua's encoder still sees a ``list``.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> _Samples:
        return self


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    """Fail fast (before asyncua's slow init) when something listens on the port.

    Probes with SO_REUSEADDR, as asyncio's ``create_server`` binds, so a port that only
    has connections in TIME_WAIT (a restart) counts as free.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise ConfigError(
                f"cannot listen on {host}:{port} for the CNC simulator: {err.strerror or err}"
            ) from err


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _append_line(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(payload) + "\n")


class CncSimServer:
    """An OPC UA server that behaves like an instrumented CNC machining centre.

    Parameters
    ----------
    config
        Simulator settings; ``CncSimConfig(port=0)`` picks a free loopback port.
    clock_ns
        Wall clock in UTC nanoseconds (tests may inject one).

    Attributes
    ----------
    model : CncMachineModel
        The pure model being published; usable offline while the server runs.
    writes : list[WriteRecord]
        Every client write received, in order (kept across restarts).
    """

    def __init__(
        self, config: CncSimConfig | None = None, *, clock_ns: Callable[[], int] = now_ns
    ) -> None:
        self.config = config if config is not None else CncSimConfig()
        self._clock_ns = clock_ns
        self.model = CncMachineModel(self.config, start_ns=clock_ns())
        self.writes: list[WriteRecord] = []
        self.blocks_published = 0
        self.blocks_skipped = 0
        self._history = BoundedHistory()
        self._historized: set[str] = set()
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._port: int | None = self.config.port or None
        self._ns: int | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._names: dict[ua.NodeId, str] = {}
        self._overrides: dict[str, SensorStatus] = {}
        self._last_good: dict[str, ua.Variant] = {}
        self._write_cond: asyncio.Condition | None = None
        self._last_scalar_tick = 0
        self._windows = tuple(self._window(f) for f in self.config.sensor_faults)
        cfg = self.config
        self.ground_truth_path = cfg.ground_truth_path
        if cfg.writes_log_path is not None:
            self.writes_log_path: Path | None = cfg.writes_log_path
        elif cfg.ground_truth_path is not None:
            gt = cfg.ground_truth_path
            self.writes_log_path = gt.with_name(gt.stem + ".writes.jsonl")
        else:
            self.writes_log_path = None

    # --- identity ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port (known after the first start; kept for restarts)."""
        if self._port is None:
            raise RuntimeError("the simulator has not been started yet; its port is not chosen")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``opc.tcp://host:port`` of the server."""
        return f"opc.tcp://{_url_host(self.config.host)}:{self.port}"

    @property
    def application_uri(self) -> str:
        """The server's OPC UA application URI (also in its certificate)."""
        return f"{self.config.namespace_uri}:{self.config.machine_name}"

    @property
    def namespace_index(self) -> int:
        """Index of :attr:`CncSimConfig.namespace_uri` in the server's namespace array."""
        if self._ns is None:
            raise RuntimeError("the simulator has not been started yet")
        return self._ns

    def node_id(self, name: str) -> str:
        """Node id text of a node name, e.g. ``ns=2;s=CNC01.Spindle.Speed``."""
        return node_spec(name).node_id(self.config.machine_name, self.namespace_index)

    @property
    def node_ids(self) -> dict[str, str]:
        """Every node name mapped to its node id text."""
        return {spec.name: self.node_id(spec.name) for spec in NODES}

    def sim_time_ns(self, wall_ns: int | None = None) -> int:
        """Simulated UTC time: the wall clock, sped up by ``time_scale`` after the start."""
        wall = self._clock_ns() if wall_ns is None else wall_ns
        scale = self.config.time_scale
        if scale == 1.0:
            return wall
        start = self.model.start_ns
        return start + round((wall - start) * scale)

    def status(self) -> SimStatus:
        """A snapshot of what the simulator is doing now."""
        t = self.sim_time_ns()
        state = self.model.state_at(t)
        values = state.node_values()
        return SimStatus(
            sim_time_ns=t,
            state=str(values["Program.State"]),
            speed_rpm=float(values["Spindle.Speed"]),
            fault_severity=float(state.fault_severity[0]),
            blocks_published=self.blocks_published,
            blocks_skipped=self.blocks_skipped,
            writes=len(self.writes),
        )

    # --- sensor failures --------------------------------------------------------------

    def _window(self, fault: SensorFault) -> _Window:
        start = fault.start
        if isinstance(start, datetime):
            start_ns = to_ns(start)
        else:
            start_ns = self.model.start_ns + round(start * NS)
        signals = (
            frozenset(f"Vibration.Accel{a}" for a in VIBRATION_AXES)
            if fault.signal == "Vibration"
            else frozenset({fault.signal})
        )
        return _Window(signals, start_ns, start_ns + round(fault.duration_s * NS), fault.status)

    def set_sensor_status(self, signal: str, status: SensorStatus | str | None) -> None:
        """Force a Bad/Uncertain status on a signal now (``None`` restores Good).

        ``signal`` is a node name (``Spindle.Temperature``) or ``Vibration`` for the
        three accelerometer axes; it takes effect at the next update.
        """
        names = (
            [f"Vibration.Accel{a}" for a in VIBRATION_AXES]
            if signal == "Vibration"
            else [node_spec(signal).name]
        )
        for name in names:
            if status is None:
                self._overrides.pop(name, None)
            else:
                self._overrides[name] = SensorStatus(status)

    def _status_for(self, name: str, t_ns: int) -> SensorStatus | None:
        forced = self._overrides.get(name)
        if forced is not None:
            return forced
        for window in self._windows:
            if name in window.signals and window.start_ns <= t_ns < window.end_ns:
                return window.status
        return None

    # --- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Build the address space, bind the port and start publishing.

        Raises
        ------
        ConfigError
            The port is in use, or the PKI folder, trust folder or ground-truth file is
            unusable.
        """
        if self._server is not None:
            raise RuntimeError(f"the simulator is already running on {self.endpoint_url}")
        cfg = self.config
        self._write_cond = asyncio.Condition()
        if self._port is None:
            self._port = _free_port(cfg.host)
        _check_port_free(cfg.host, self._port)
        security = await self._prepare_security()
        if self.ground_truth_path is not None:
            try:
                self.ground_truth_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConfigError(
                    f"ground_truth_path {str(self.ground_truth_path)!r} cannot be written: {err}"
                ) from err
        server = Server()
        await server.init()
        # asyncua's clock task makes stop() wait up to 1 s; ours is cancelled at once
        server.disable_clock(True)
        server.set_endpoint(self.endpoint_url)
        server.set_server_name(f"shopfloor CNC simulator {cfg.machine_name}")
        await server.set_application_uri(self.application_uri)
        server.allow_remote_admin(False)
        await self._configure_security(server, security)
        self._ns = await server.register_namespace(cfg.namespace_uri)
        await self._build_address_space(server)
        if cfg.history:
            server.iserver.history_manager.set_storage(self._history)
            await self._historize(server)
        await self._publish_initial(server)
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
        try:
            await server.start()
        except OSError as err:
            raise ConfigError(
                f"cannot listen on {cfg.host}:{self._port} for the CNC simulator: {err}"
            ) from err
        self._server = server
        self._tasks = [
            asyncio.create_task(self._scalar_loop(), name="cnc-sim-scalars"),
            asyncio.create_task(self._vibration_loop(), name="cnc-sim-vibration"),
            asyncio.create_task(self._server_clock_loop(), name="cnc-sim-clock"),
        ]
        try:
            await asyncio.to_thread(self._write_ground_truth)
        except OSError as err:
            await self.stop()
            raise ConfigError(
                f"ground_truth_path {str(self.ground_truth_path)!r} cannot be written: {err}"
            ) from err
        logger.info(
            "cnc_sim.started endpoint=%s security=%s fault=%s seed=%s",
            self.endpoint_url,
            cfg.security.value,
            cfg.fault.type.value,
            cfg.seed,
        )

    async def stop(self) -> None:
        """Stop publishing and close the port; safe to call twice and under cancellation."""
        server, self._server = self._server, None
        if server is None:
            return
        tasks, self._tasks = self._tasks, []
        shutdown = asyncio.ensure_future(self._shutdown(server, tasks))
        try:
            await asyncio.shield(shutdown)
        except asyncio.CancelledError:
            await shutdown
            raise
        logger.info("cnc_sim.stopped endpoint=%s", self.endpoint_url)

    @staticmethod
    async def _shutdown(server: Server, tasks: Iterable[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()

    async def _prepare_security(self) -> _Security | None:
        """Certificates and trust store, before asyncua's slow init (fail fast)."""
        cfg = self.config
        if cfg.security is SecurityMode.NONE:
            return None
        cert, key = await asyncio.to_thread(
            ensure_server_certificate, cfg.pki_dir, self.application_uri, cfg.host
        )
        validator = None
        if cfg.trust_dir is not None:
            if not cfg.trust_dir.is_dir():
                raise ConfigError(f"trust_dir {str(cfg.trust_dir)!r} is not a directory")
            store = TrustStore([cfg.trust_dir], [])
            try:
                await store.load()
            except ValueError as err:  # asyncua/cryptography refuse an empty store
                raise ConfigError(
                    f"trust_dir {str(cfg.trust_dir)!r} holds no client certificate (DER or "
                    "PEM); add the clients' certificates, or leave it unset to trust all"
                ) from err
            validator = CertificateValidator(
                CertificateValidatorOptions.TIME_RANGE
                | CertificateValidatorOptions.URI
                | CertificateValidatorOptions.TRUSTED
                | CertificateValidatorOptions.PEER_CLIENT,
                store,
            )
        return _Security(cert, key, validator)

    async def _configure_security(self, server: Server, security: _Security | None) -> None:
        cfg = self.config
        policies = list(_SECURITY_POLICIES[cfg.security])
        if cfg.security is not SecurityMode.NONE and cfg.security_allow_none:
            policies.append(ua.SecurityPolicyType.NoSecurity)
        server.set_security_policy(policies)
        # anonymous sessions only: the secure channel authenticates the client certificate
        server.set_identity_tokens([ua.AnonymousIdentityToken])
        if security is None:
            return
        await server.load_certificate(str(security.cert))
        await server.load_private_key(str(security.key))
        if security.validator is not None:
            server.set_certificate_validator(security.validator.validate)

    # --- address space ----------------------------------------------------------------

    async def _build_address_space(self, server: Server) -> None:
        cfg = self.config
        ns = self.namespace_index
        machine = cfg.machine_name
        root = await server.nodes.objects.add_object(_node_id(machine, ns), f"{ns}:{machine}")
        await root.write_attribute(
            AttributeIds.Description,
            ua.DataValue(ua.Variant(ua.LocalizedText(
                f"CNC machining centre {machine} (simulated by shopfloor)"
            ))),
        )  # fmt: skip
        folders: dict[str, Node] = {"": root}
        self._nodes.clear()
        self._names.clear()
        for spec in NODES:
            *parents, leaf = spec.name.split(".")
            path = ""
            for part in parents:
                parent_path = path
                path = f"{path}.{part}" if path else part
                if path not in folders:
                    folders[path] = await folders[parent_path].add_object(
                        _node_id(f"{machine}.{path}", ns), f"{ns}:{part}"
                    )
            node_id = await self._add_variable(server, folders[path], spec, leaf)
            self._nodes[spec.name] = node_id
            self._names[node_id] = spec.name

    async def _add_variable(
        self, server: Server, parent: Node, spec: NodeSpec, leaf: str
    ) -> ua.NodeId:
        cfg = self.config
        ns = self.namespace_index
        node_id = _node_id(f"{cfg.machine_name}.{spec.name}", ns)
        vtype = _VARIANT[spec.data_type]
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(leaf)
        attrs.Description = ua.LocalizedText(spec.description)
        attrs.DataType = _node_id(_DATA_TYPE_ID[spec.data_type])
        access = ua.AccessLevel.CurrentRead.mask
        if spec.writable:
            access |= ua.AccessLevel.CurrentWrite.mask
        attrs.AccessLevel = access
        attrs.UserAccessLevel = access
        attrs.WriteMask = 0
        attrs.UserWriteMask = 0
        attrs.Historizing = False
        if spec.is_array:
            attrs.ValueRank = ua.ValueRank.OneDimension
            attrs.ArrayDimensions = [cfg.block_samples]
            attrs.Value = ua.Variant([], vtype, is_array=True)
            attrs.MinimumSamplingInterval = cfg.block_duration_s * 1000.0
        else:
            attrs.ValueRank = ua.ValueRank.Scalar
            attrs.Value = ua.Variant(_DEFAULT[spec.data_type], vtype)
            attrs.MinimumSamplingInterval = 1000.0 / cfg.scalar_rate_hz
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = ua.QualifiedName(leaf, ns)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = parent.nodeid
        item.ReferenceTypeId = _node_id(ObjectIds.HasComponent)
        item.TypeDefinition = _node_id(
            ObjectIds.AnalogItemType if spec.unit else ObjectIds.BaseDataVariableType
        )
        item.NodeAttributes = attrs
        (result,) = await server.iserver.isession.add_nodes([item])
        result.StatusCode.check()
        node = server.get_node(node_id)
        if spec.unit:
            code, name = UNECE_UNITS[spec.unit]
            eu = ua.EUInformation(
                NamespaceUri=UNECE_NAMESPACE,
                UnitId=unece_unit_id(code),
                DisplayName=ua.LocalizedText(spec.unit),
                Description=ua.LocalizedText(name),
            )
            await node.add_property(
                _node_id(f"{cfg.machine_name}.{spec.name}.EngineeringUnits", ns),
                ua.QualifiedName("EngineeringUnits", 0),
                ua.Variant(eu),
                datatype=_node_id(ObjectIds.EUInformation),
            )
            low, high = spec.eu_range or (0.0, 0.0)
            await node.add_property(
                _node_id(f"{cfg.machine_name}.{spec.name}.EURange", ns),
                ua.QualifiedName("EURange", 0),
                ua.Variant(ua.Range(Low=low, High=high)),
                datatype=_node_id(ObjectIds.Range),
            )
        return node_id

    async def _historize(self, server: Server) -> None:
        """Mark the historized nodes and open their series in the history.

        The simulator stores every value it publishes itself (in :meth:`_write`): asyncua's
        ``historize_node_data_change`` records through a subscription that reports only
        changes of value or status, so a value published again with a new source
        timestamp (a spindle at rest, a constant program number) would be missing from
        the history although a client subscribed for every sample receives it.
        """
        cfg = self.config
        period = timedelta(seconds=cfg.history_period_s)
        self._historized = set()
        for spec in NODES:
            if not spec.historized:
                continue
            count = 0
            if spec.kind is NodeKind.WAVEFORM:
                if cfg.history_waveform_blocks == 0:
                    continue
                count = cfg.history_waveform_blocks
            node_id = self._nodes[spec.name]
            node = server.get_node(node_id)
            await node.write_attribute(
                ua.AttributeIds.Historizing, ua.DataValue(ua.Variant(True, ua.VariantType.Boolean))
            )
            for attribute in (ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel):
                await node.set_attr_bit(attribute, ua.AccessLevel.HistoryRead)
            await self._history.new_historized_node(node_id, period, count)
            self._historized.add(spec.name)

    # --- publishing -------------------------------------------------------------------

    def _variant(self, spec: NodeSpec, value: Any) -> ua.Variant:
        vtype = _VARIANT[spec.data_type]
        if spec.is_array:
            return ua.Variant(value, vtype, is_array=True)
        return ua.Variant(value, vtype)

    async def _write(self, server: Server, name: str, variant: ua.Variant, source_ns: int) -> None:
        status = self._status_for(name, source_ns)
        if status is None:
            self._last_good[name] = variant
            code = _status(StatusCodes.Good)
        else:
            code = _status(getattr(StatusCodes, status.value))
            if status.is_bad:
                variant = ua.Variant(None, ua.VariantType.Null)
            else:  # uncertain: the last good value, flagged
                variant = self._last_good.get(name, variant)
        dv = ua.DataValue(
            Value=variant,
            StatusCode=code,
            SourceTimestamp=_ua_time(source_ns),
            ServerTimestamp=_ua_time(self._clock_ns()),
        )
        await server.write_attribute_value(self._nodes[name], dv)
        if name in self._historized:
            await self._history.save_node_value(self._nodes[name], dv)

    async def _publish_scalars(self, server: Server, t_ns: int) -> None:
        values = self.model.state_at(t_ns).node_values()
        for name, value in values.items():
            await self._write(server, name, self._variant(node_spec(name), value), t_ns)

    async def _publish_block(
        self, server: Server, index: int, data: npt.NDArray[np.float64]
    ) -> None:
        t0 = self.model.block_start_ns(index)
        for axis, column in zip(VIBRATION_AXES, data.T, strict=True):
            name = f"Vibration.Accel{axis}"
            variant = ua.Variant(_Samples(column.tolist()), ua.VariantType.Double, is_array=True)
            await self._write(server, name, variant, t0)
        self.blocks_published += 1

    async def _publish_initial(self, server: Server) -> None:
        cfg = self.config
        sample_rate = self._variant(node_spec("Vibration.SampleRate"), float(cfg.sample_rate_hz))
        await server.write_attribute_value(
            self._nodes["Vibration.SampleRate"],
            ua.DataValue(Value=sample_rate, SourceTimestamp=_ua_time(self._clock_ns())),
        )
        now = self.sim_time_ns()
        step = self._scalar_step_ns()
        self._last_scalar_tick = now // step
        await self._publish_scalars(server, self._last_scalar_tick * step)
        last_complete = self.model.block_index(now) - 1
        data = await asyncio.to_thread(self.model.block_data, last_complete)
        await self._publish_block(server, last_complete, data)

    def _scalar_step_ns(self) -> int:
        cfg = self.config
        return max(1, round(NS / cfg.scalar_rate_hz * cfg.time_scale))

    async def _sleep_until_sim(self, target_ns: int) -> None:
        remaining_s = (target_ns - self.sim_time_ns()) / self.config.time_scale / NS
        await asyncio.sleep(max(remaining_s, 0.0005))

    async def _scalar_loop(self) -> None:
        server = self._server
        assert server is not None
        step = self._scalar_step_ns()
        last = self._last_scalar_tick
        while True:
            tick = self.sim_time_ns() // step
            if tick - last > MAX_SCALAR_CATCH_UP:
                logger.warning("cnc_sim.scalar_updates_skipped count=%s", tick - last - 1)
                last = tick - 1
            while last < tick:  # a regular grid: publish every tick, late ones included
                last += 1
                try:
                    await self._publish_scalars(server, last * step)
                except Exception:
                    logger.exception("cnc_sim.scalar_update_failed tick=%s", last)
            self._last_scalar_tick = last
            await self._sleep_until_sim((last + 1) * step)

    async def _server_clock_loop(self) -> None:
        """Keep Server.ServerStatus.CurrentTime ticking, as asyncua's own clock would."""
        server = self._server
        assert server is not None
        status_node = server.get_node(_node_id(ObjectIds.Server_ServerStatus))
        time_node = server.get_node(_node_id(ObjectIds.Server_ServerStatus_CurrentTime))
        while True:
            try:
                now = _ua_time(self._clock_ns())
                status = copy.copy(await status_node.read_value())
                status.CurrentTime = now
                await status_node.write_value(status)
                await time_node.write_value(now)
            except Exception:
                logger.exception("cnc_sim.server_clock_failed")
            await asyncio.sleep(1.0)

    async def _vibration_loop(self) -> None:
        server = self._server
        assert server is not None
        model = self.model
        index = model.block_index(self.sim_time_ns())  # the block being recorded now
        while True:
            end_ns = model.block_start_ns(index + 1)
            if self.sim_time_ns() < end_ns:
                await self._sleep_until_sim(end_ns)
                continue
            current = model.block_index(self.sim_time_ns())
            if current - index > MAX_BLOCKS_BEHIND:
                skipped = current - 1 - index
                self.blocks_skipped += skipped
                logger.warning("cnc_sim.blocks_skipped count=%s (time_scale too high?)", skipped)
                index = current - 1
            try:
                data = await asyncio.to_thread(model.block_data, index)
                await self._publish_block(server, index, data)
            except Exception:
                logger.exception("cnc_sim.block_publish_failed index=%s", index)
            index += 1

    # --- write-back -------------------------------------------------------------------

    async def _on_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        if not event.is_external:
            return
        params = event.request_params
        results = event.response_params or []
        new: list[WriteRecord] = []
        for write, result in zip(params.NodesToWrite, results, strict=False):
            value = write.Value.Value.Value if write.Value and write.Value.Value else None
            record = WriteRecord(
                received_ns=self._clock_ns(),
                node_id=write.NodeId.to_string(),
                name=self._names.get(write.NodeId, ""),
                attribute=AttributeIds(write.AttributeId).name,
                value=_jsonable(value),
                status=result.name,
            )
            new.append(record)
            logger.info(
                "cnc_sim.write_received node=%s value=%r status=%s",
                record.node_id,
                record.value,
                record.status,
            )
        if not new:
            return
        self.writes.extend(new)
        await asyncio.to_thread(self._record_writes, new)
        if self._write_cond is not None:
            async with self._write_cond:
                self._write_cond.notify_all()

    def _record_writes(self, records: list[WriteRecord]) -> None:
        if self.writes_log_path is not None:
            for record in records:
                _append_line(self.writes_log_path, record.to_json())
        self._write_ground_truth()

    async def wait_for_write(
        self,
        name: str,
        *,
        timeout_s: float = 10.0,
        predicate: Callable[[WriteRecord], bool] | None = None,
        since: int = 0,
    ) -> WriteRecord:
        """Wait until a client writes node ``name`` (or node id text) and return the write.

        Parameters
        ----------
        name
            Node name (``Alarm.Active``) or node id text.
        timeout_s
            Raise ``TimeoutError`` after this long.
        predicate
            Only accept writes for which this returns True (e.g. a value).
        since
            Ignore the first ``since`` entries of :attr:`writes`.
        """
        if self._write_cond is None:
            self._write_cond = asyncio.Condition()
        cond = self._write_cond

        def found() -> WriteRecord | None:
            for record in self.writes[since:]:
                if name in (record.name, record.node_id) and (
                    predicate is None or predicate(record)
                ):
                    return record
            return None

        async with asyncio.timeout(timeout_s):
            async with cond:
                while (record := found()) is None:
                    await cond.wait()
        return record

    # --- ground truth -----------------------------------------------------------------

    def ground_truth(self) -> dict[str, Any]:
        """The model's ground truth plus the endpoint, node ids, sensor failures, writes."""
        cfg = self.config
        truth = self.model.ground_truth()
        nodes: dict[str, Any] = {}
        for spec in NODES:
            nodes[spec.name] = {
                "node_id": self.node_id(spec.name) if self._ns is not None else None,
                "data_type": spec.data_type.value,
                "unit": spec.unit,
                "kind": spec.kind.value,
            }
        truth |= {
            "endpoint_url": self.endpoint_url if self._port is not None else None,
            "namespace_uri": cfg.namespace_uri,
            "namespace_index": self._ns,
            "security": cfg.security.value,
            "time_scale": cfg.time_scale,
            "scalar_rate_hz": cfg.scalar_rate_hz,
            "nodes": nodes,
            "sensor_faults": [
                {
                    "signals": sorted(w.signals),
                    "start_time": format_ns(w.start_ns),
                    "end_time": format_ns(w.end_ns),
                    "status": w.status.value,
                }
                for w in self._windows
            ],
            "writes_log": str(self.writes_log_path) if self.writes_log_path else None,
            "writes": [record.to_json() for record in self.writes],
        }
        return truth

    def _write_ground_truth(self) -> None:
        if self.ground_truth_path is not None:
            _write_json_atomic(self.ground_truth_path, self.ground_truth())
