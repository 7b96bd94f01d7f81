"""The Modbus TCP connector (pymodbus).

Per connection: connect, plan the block reads of each polling group (tags of one table
and unit merged, see :mod:`.blocks`), and poll every group at its own interval. Each
value is decoded as its tag says (:mod:`.values`), scaled, stamped with the time its
response arrived (Modbus carries no timestamps), and handed to the engine in one batch
per signal every ``flush_interval_ms``. Event signals get an event when their value
changes.

What one block's failure does:

- the device answers with an exception (illegal address, device failure, a gateway whose
  target does not answer): each tag of the block gets one dead letter naming its address,
  unit and the exception, and stays in error in the health until it reads again; the
  other blocks go on. A merged block refused as an illegal address (or value) is read tag
  by tag from then on: the addresses between its tags may not exist.
- a value that does not decode (a string with non-ASCII bytes): a dead letter, once
  until the tag decodes again.
- a NaN or infinite float: stored as it is with quality ``BAD`` (the validation accepts a
  non-finite value only with bad quality), so the hole is visible where the data is.
- no answer, or the connection drops: :meth:`ModbusConnector.run` raises
  ``ConnectorNotReady`` and the engine reconnects with its backoff. Modbus keeps no
  history: the stretch without data becomes one ``gap`` event per signal, from its last
  value to its first after the reconnect.

:meth:`ModbusConnector.write` writes a coil or registers and reads them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.modbus.address import Table, parse_address
from shopfloor.connectors.modbus.blocks import Block, plan_blocks, split
from shopfloor.connectors.modbus.config import ModbusConfig, ModbusTag, ModbusTagOptions
from shopfloor.connectors.modbus.registermap import (
    TagSpec,
    load_register_map,
    resolve_tag,
    spec_of,
    tags_by_name,
)
from shopfloor.connectors.modbus.values import (
    Value,
    decode,
    encode,
    is_finite,
    scale_value,
    unscale_value,
    with_bit,
)
from shopfloor.connectors.quiet import demote_to_debug
from shopfloor.errors import (
    ConfigError,
    ConnectorNotReady,
    WriteError,
    WriteNotVerified,
    WriteRefused,
)
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
    now_ns,
)

__all__ = ["EXCEPTION_NAMES", "DeviceRefused", "ModbusConnector", "ModbusLink"]

log = logging.getLogger(__name__)

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
"""Modbus exception codes by number, as the specification names them."""

_ADDRESS_REFUSALS = frozenset({2, 3})
"""Exceptions that may mean "not all of this range exists" (some devices answer 3 for it):
a merged read refused with one of them is read tag by tag instead."""

_READ = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
}


@dataclass(frozen=True)
class DeviceRefused:
    """The device answered a request with a Modbus exception."""

    code: int

    @property
    def reason(self) -> str:
        """``exception 2 (illegal data address)``."""
        return f"exception {self.code} ({EXCEPTION_NAMES.get(self.code, 'unknown')})"


class ModbusLink:
    """One TCP connection to a device: reads and writes, errors mapped at the boundary.

    Shared by the connector and ``shopfloor modbus scan``. A request that gets no answer
    in ``timeout_s``, or a dropped connection, raises ``ConnectorNotReady``; a Modbus
    exception response is returned as :class:`DeviceRefused`.
    """

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._client: Any = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        """Connect; ``ConnectorNotReady`` when the device cannot be reached."""
        from pymodbus.client import AsyncModbusTcpClient

        # pymodbus logs each unanswered request as an error with a frame dump; the
        # connector reports each loss in one line of its own
        demote_to_debug("pymodbus.logging")
        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0,  # the engine reconnects, with the project's retry policy
        )
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                connected = await client.connect()
        except (OSError, TimeoutError) as err:
            client.close()
            raise ConnectorNotReady(f"{self.where}: {type(err).__name__}: {err}") from err
        if not connected:
            client.close()
            raise ConnectorNotReady(
                f"{self.where}: connection refused or no answer within {self.timeout_s:g} s"
            )
        self._client = client

    def close(self) -> None:
        """Drop the connection (safe to call twice)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    async def read(
        self, table: Table, start: int, count: int, unit: int
    ) -> list[int] | DeviceRefused:
        """``count`` registers (or bits as 0/1) of ``table`` from ``start`` on ``unit``."""
        response = await self._call(
            f"reading {table}:{start} (+{count}) on unit {unit}",
            _READ[table],
            start,
            count=count,
            device_id=unit,
        )
        if response.isError():
            return DeviceRefused(int(getattr(response, "exception_code", 0)))
        if table in ("coil", "discrete"):
            return [int(bool(b)) for b in response.bits[:count]]
        return [int(r) for r in response.registers]

    async def write(
        self, table: Table, start: int, values: Sequence[int], unit: int
    ) -> DeviceRefused | None:
        """Write a coil (one 0/1 value) or holding registers from ``start`` on ``unit``."""
        what = f"writing {table}:{start} on unit {unit}"
        if table == "coil":
            response = await self._call(what, "write_coil", start, bool(values[0]), device_id=unit)
        elif len(values) == 1:
            response = await self._call(what, "write_register", start, values[0], device_id=unit)
        else:
            response = await self._call(
                what, "write_registers", start, list(values), device_id=unit
            )
        if response.isError():
            return DeviceRefused(int(getattr(response, "exception_code", 0)))
        return None

    async def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        from pymodbus.exceptions import ModbusException

        if self._client is None:
            raise ConnectorNotReady(f"{self.where}: not connected ({what})")
        try:
            async with self._lock, asyncio.timeout(self.timeout_s * 2):
                return await getattr(self._client, method)(*args, **kwargs)
        except (ModbusException, OSError, TimeoutError) as err:
            detail = str(err).removeprefix("Modbus Error: ") or type(err).__name__
            raise ConnectorNotReady(f"{self.where}: {what}: {detail}") from err


@dataclass
class _Tag:
    """A tag bound to a signal, with what the connector remembers about it.

    Scalar values wait in ``ts``, ``values`` and ``quality`` for the next flush: one
    record per signal and flush, not one per poll.
    """

    spec: TagSpec
    bound: BoundSignal
    provenance: Provenance
    failing: str | None = None
    last_event: Value | None = None
    ts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)


class ModbusConnector:
    """A connection to one Modbus TCP device, for the signals bound to it."""

    def __init__(
        self, config: ModbusConfig, signals: list[BoundSignal], context: ConnectorContext
    ) -> None:
        self.name = config.name
        self.config = config
        self.context = context
        mapped: list[ModbusTag] = []
        if config.register_map is not None:
            mapped = load_register_map(context.resolve(config.register_map))
        self.named = tags_by_name(config, mapped)
        self.tags: list[_Tag] = []
        for bound in signals:
            spec = self.spec_for(bound.address, bound.options)
            kind = bound.definition.kind
            if kind not in (SignalKind.SCALAR, SignalKind.EVENT):
                raise ConfigError(
                    f"signal {bound.ref.path!r}: a Modbus tag feeds a scalar or event signal, "
                    f"not a {kind.value}"
                )
            if spec.layout.type == "string" and kind != SignalKind.EVENT:
                raise ConfigError(
                    f"signal {bound.ref.path!r}: {bound.address} is a string; bind it to an "
                    "event signal (kind: event)"
                )
            self.tags.append(_Tag(spec, bound, Provenance(config.name, bound.address)))
        self._by_address = {t.bound.address: t for t in self.tags}
        self.link = ModbusLink(config.host, config.port, config.timeout_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._failure: Exception | None = None
        self._last_ts: dict[SignalRef, int] = dict(context.resume)
        self._gap_pending: set[SignalRef] = set()
        self._records: list[Record] = []  # events, waiting for the next flush
        self._letters: list[DeadLetter] = []
        self.stats = {"requests": 0, "values": 0, "sessions": 0}

    def spec_for(self, address: str, options: dict[str, Any] | None = None) -> TagSpec:
        """The tag of ``address``: a register-map name, or ``table:address`` with ``options``.

        Raises
        ------
        ConfigError
            Naming the connector, the address and what is wrong.
        """
        try:
            if address in self.named:
                if options:
                    raise ValueError(
                        f"tag {address!r} comes from the register map: give its options there, "
                        "not in source_options"
                    )
                return spec_of(self.named[address], self.config)
            return resolve_tag(
                parse_address(address), ModbusTagOptions.model_validate(options or {}), self.config
            )
        except ValueError as err:  # pydantic's ValidationError is a ValueError too
            names = f"; known tags: {', '.join(sorted(self.named))}" if self.named else ""
            raise ConfigError(f"connector {self.name!r}: source {address!r}: {err}{names}") from err

    # -- connection ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and start polling every group."""
        self._lost = asyncio.Event()
        self._failure = None
        await self.link.open()
        self.stats["sessions"] += 1
        self._gap_pending = {t.bound.ref for t in self.tags}
        groups: dict[str, list[tuple[TagSpec, _Tag]]] = {}
        for tag in self.tags:
            groups.setdefault(tag.spec.group, []).append((tag.spec, tag))
        for group, members in sorted(groups.items()):
            blocks = plan_blocks(
                members,
                max_gap_registers=self.config.max_gap_registers,
                max_gap_bits=self.config.max_gap_bits,
                max_registers=self.config.max_registers_per_read,
                max_bits=self.config.max_bits_per_read,
            )
            self._tasks.append(
                asyncio.create_task(self._poll(group, blocks), name=f"modbus-poll:{group}")
            )
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="modbus-flush"))

    async def run(self) -> None:
        """Wait until the connection is lost, then raise so the engine reconnects.

        An error handing values on (the bus closed at shutdown) is raised as it is.
        """
        await self._lost.wait()
        if self._failure is not None:
            raise self._failure
        raise ConnectorNotReady(self._lost_reason or f"{self.link.where}: connection lost")

    async def close(self) -> None:
        """Stop polling and drop the connection; safe twice and under cancellation."""
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            # again until they end: pymodbus awaits its responses with asyncio.wait_for,
            # which on Python 3.11 can swallow a cancellation that meets a response
            _, pending = await asyncio.wait(pending, timeout=0.2)
        tasks, self._tasks = self._tasks, []  # only once they ended: a cancelled close
        for task in tasks:  # leaves them for the next one
            if not task.cancelled():
                with contextlib.suppress(Exception):
                    task.result()
        with contextlib.suppress(Exception):
            await self._flush()
        self.link.close()

    def _lose(self, reason: str) -> None:
        if not self._lost.is_set():
            self._lost_reason = reason
            log.warning("modbus.connection_lost connector=%s error=%s", self.name, reason)
            self._lost.set()

    # -- polling ------------------------------------------------------------------------

    async def _poll(self, group: str, blocks: list[Block[_Tag]]) -> None:
        interval = self.config.interval_s(group)
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while True:
                blocks = await self._read_blocks(blocks)
                due += interval
                now = loop.time()
                if due < now:  # late (a slow device): skip the ticks missed, keep the grid
                    due += math.ceil((now - due) / interval) * interval
                await asyncio.sleep(due - now)
        except ConnectorNotReady as err:
            self._lose(str(err))

    async def _read_blocks(self, blocks: list[Block[_Tag]]) -> list[Block[_Tag]]:
        """Read every block; the blocks to read next time (some split)."""
        kept: list[Block[_Tag]] = []
        queue = list(blocks)
        while queue:
            block = queue.pop(0)
            answer = await self.link.read(block.table, block.start, block.count, block.unit)
            self.stats["requests"] += 1
            ts = now_ns()
            if (
                isinstance(answer, DeviceRefused)
                and answer.code in _ADDRESS_REFUSALS
                and len(block.items) > 1
            ):
                log.info(
                    "modbus.block_split connector=%s block=%s reason=%r",
                    self.name,
                    block.label,
                    answer.reason,
                )
                queue[:0] = split(block)  # the gap may hold addresses the device lacks
                continue
            kept.append(block)
            for spec, tag in block.items:
                if isinstance(answer, DeviceRefused):
                    self._fail(
                        tag,
                        f"{spec.label} ({tag.bound.ref.path}) on {self.link.where}: the device "
                        f"refused the read: {answer.reason}",
                        {"category": "modbus_exception", "exception_code": answer.code},
                    )
                else:
                    self._value(tag, block.slice(answer, spec), ts)
        return kept

    def _value(self, tag: _Tag, registers: list[int], ts: int) -> None:
        spec, bound = tag.spec, tag.bound
        try:
            raw = decode(registers, spec.layout)
        except ValueError as err:
            self._fail(
                tag,
                f"{spec.label} ({bound.ref.path}): {err}",
                {"category": "bad_value", "registers": registers},
            )
            return
        if tag.failing is not None:
            log.info("modbus.tag_recovered connector=%s tag=%s", self.name, spec.label)
            tag.failing = None
        self._gap_before(tag, ts)
        self._last_ts[bound.ref] = ts
        self.stats["values"] += 1
        if bound.definition.kind == SignalKind.EVENT:
            value: Value = (
                raw if isinstance(raw, str) else scale_value(raw, spec.scale, spec.offset)
            )
            if value != tag.last_event:
                tag.last_event = value
                self._records.append(
                    EventRecord(
                        bound.ref,
                        ts,
                        "value_change",
                        tag.provenance,
                        message=str(value)[:500],
                        attributes={"value": value},
                    )
                )
            return
        tag.ts.append(ts)
        tag.values.append(scale_value(raw, spec.scale, spec.offset))
        tag.quality.append(Quality.GOOD if is_finite(raw) else Quality.BAD)

    def _fail(self, tag: _Tag, reason: str, detail: dict[str, Any]) -> None:
        """A dead letter for ``tag``, once until it reads again."""
        if tag.failing == reason:
            return
        tag.failing = reason
        log.warning("modbus.tag_failed connector=%s reason=%r", self.name, reason)
        self._letters.append(
            DeadLetter(
                source=self.name,
                location=tag.bound.address,
                reason=reason,
                detail={
                    **detail,
                    "signal": tag.bound.ref.path,
                    "address": tag.spec.label,
                    "unit": tag.spec.unit,
                },
            )
        )

    def _gap_before(self, tag: _Tag, ts: int) -> None:
        """The first value after a (re)connect: a ``gap`` event if data stopped for a while."""
        ref = tag.bound.ref
        if ref not in self._gap_pending:
            return
        self._gap_pending.discard(ref)
        last = self._last_ts.get(ref)
        interval_ns = int(self.config.interval_s(tag.spec.group) * NS_PER_S)
        if last is None or ts - last <= 3 * interval_ns:  # after a reconnect: an outage
            return
        seconds = (ts - last) / NS_PER_S
        self._records.append(
            EventRecord(
                ref,
                last + 1,
                "gap",
                tag.provenance,
                message=(
                    f"no data from {self.link.where} for {seconds:.1f} s (connection lost); "
                    "Modbus keeps no history to fill it"
                ),
                severity="warning",
                attributes={
                    "from_ns": last,
                    "to_ns": ts,
                    "cause": "connection lost",
                    "seconds": round(seconds, 3),
                },
            )
        )

    def _take(self) -> tuple[list[Record], list[DeadLetter]]:
        """Everything waiting: one batch per scalar signal, events, dead letters."""
        records, self._records = self._records, []
        letters, self._letters = self._letters, []
        received = now_ns()
        for tag in self.tags:
            n = len(tag.ts)
            if not n:
                continue
            records.append(
                ScalarBatch(
                    tag.bound.ref,
                    np.fromiter(tag.ts, np.int64, n),
                    np.fromiter(tag.values, np.float64, n),
                    np.fromiter(tag.quality, np.uint8, n),
                    np.zeros(n, dtype=np.uint32),
                    np.full(n, received, dtype=np.int64),
                    tag.provenance,
                )
            )
            tag.ts, tag.values, tag.quality = [], [], []
        return records, letters

    async def _flush(self) -> None:
        records, letters = self._take()
        if letters:
            await self.context.reject(letters)
        if records:
            await self.context.emit(records)

    async def _flush_loop(self) -> None:
        interval = self.config.flush_interval_ms / 1000
        try:
            while True:
                await asyncio.sleep(interval)
                await self._flush()
        except Exception as err:  # run() raises it: the engine decides what it means
            self._failure = err
            self._lose(f"handing on values failed: {type(err).__name__}: {err}")

    # -- writes -------------------------------------------------------------------------

    async def write(self, address: str, value: Any) -> Value:
        """Write ``value`` to a coil or holding registers, read it back and return that.

        ``address`` is a bound signal's source, a register-map tag name, or an address
        (``holding:100``, read with the default options). Numbers are unscaled
        (``(value - offset) / scale``, rounded for integer types) before they are encoded.

        Raises
        ------
        WriteRefused
            The table is read-only or the value does not fit (retrying would not help).
        WriteError
            The device refused the write.
        WriteNotVerified
            The value read back differs.
        ConnectorNotReady
            Not connected, or no answer.

        Each names the address, the unit and the value.
        """
        tag = self._by_address.get(address)
        spec = tag.spec if tag is not None else self.spec_for(address)
        where = f"{spec.label} on {self.link.where}"
        table = spec.address.table
        if table in ("input", "discrete"):
            raise WriteRefused(f"writing {value!r} to {where}: {table} is read-only")
        try:
            registers = await self._encode_for_write(spec, value)
        except ValueError as err:
            raise WriteRefused(f"writing {value!r} to {where}: {err}") from err
        refused = await self.link.write(table, spec.start, registers, spec.unit)
        if refused is not None:
            raise WriteError(f"writing {value!r} to {where}: {refused.reason}")
        expected = self._engineering(spec, registers)
        if not self.config.verify_writes:
            return expected
        back = await self.link.read(table, spec.start, spec.size, spec.unit)
        if isinstance(back, DeviceRefused):
            raise WriteError(f"reading back {where} after a write: {back.reason}")
        got = self._engineering(spec, back)
        if got != expected and not (_is_nan(got) and _is_nan(expected)):
            raise WriteNotVerified(
                f"wrote {value!r} to {where} but read back {got!r} (expected {expected!r})",
                read_back=got,
            )
        log.info("modbus.written connector=%s tag=%s value=%r", self.name, spec.label, got)
        return got

    async def _encode_for_write(self, spec: TagSpec, value: Any) -> list[int]:
        layout = spec.layout
        if layout.type == "bitfield":
            current = await self.link.read(spec.address.table, spec.start, 1, spec.unit)
            if isinstance(current, DeviceRefused):
                raise ValueError(f"the device refused reading the register: {current.reason}")
            if not isinstance(value, bool | int) or value not in (0, 1):
                raise ValueError(f"a bit takes true/false or 0/1, got {value!r}")
            return [with_bit(current[0], layout.bit, bool(value))]
        if layout.type in ("bool", "string"):
            return encode(value, layout)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{layout.type} takes a number, got {value!r}")
        raw = unscale_value(value, spec.scale, spec.offset, layout.type)
        return encode(raw, layout)

    def _engineering(self, spec: TagSpec, registers: list[int]) -> Value:
        raw = decode(registers, spec.layout)
        if isinstance(raw, bool | str):
            return raw
        return scale_value(raw, spec.scale, spec.offset)


def _is_nan(value: Value) -> bool:
    return isinstance(value, float) and math.isnan(value)
