"""Browse and search an OPC UA server's address space, and export nodes as signal config.

``shopfloor opcua browse URL --search Spindle --export signals.yaml`` turns hundreds of
tags into the ``signals:`` list of an asset in one step: name, kind (arrays become
waveforms), unit (from the node's ``EngineeringUnits``), description and node id.
Waveforms also get ``sample_rate_hz`` (from a sibling variable named like
``SampleRate``) and ``source_options.samples_per_block`` (the array length the server
declares). Writable variables are exported too: the connector only ever reads a bound
signal. Variables that cannot become a signal (structures, byte strings, arrays of
text) are listed with the reason, never dropped silently.

Signal names follow one rule (:func:`signal_name`): the browse path below the top-level
object (the machine), in snake_case.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from shopfloor.connectors.writes import SCALAR_TYPES
from shopfloor.model.units import validate_unit

__all__ = [
    "BrowsedNode",
    "Export",
    "browse_server",
    "nodes_to_csv",
    "nodes_to_signals",
    "signal_name",
    "signals_yaml",
]

# UN/CEFACT common codes (OPC UA EUInformation.UnitId) of units seen on machines
_UNECE = {
    "RPM": "rpm",
    "HTZ": "Hz",
    "KHZ": "kHz",
    "MTS": "m/s",
    "MMS": "mm/s",
    "MSK": "m/s**2",
    "K40": "g",
    "CEL": "degC",
    "KEL": "K",
    "FAH": "degF",
    "P1": "percent",
    "MMT": "mm",
    "MTR": "m",
    "CMT": "cm",
    "H81": "mm/min",
    "BAR": "bar",
    "PAL": "Pa",
    "KPA": "kPa",
    "AMP": "A",
    "VLT": "V",
    "WTT": "W",
    "KWT": "kW",
    "NEW": "N",
    "NU": "N*m",
    "SEC": "s",
    "MIN": "min",
    "HUR": "h",
    "KGM": "kg",
    "GRM": "gram",
    "LTR": "l",
    "L2": "l/min",
    "C62": "",
    "DD": "deg",
    "C81": "rad",
}


@dataclass
class BrowsedNode:
    """One node found while browsing."""

    node_id: str
    path: str
    node_class: str
    data_type: str | None = None
    value_rank: int | None = None
    array_length: int | None = None
    unit: str | None = None
    description: str = ""
    writable: bool = False
    historizing: bool = False
    value: float | None = None
    """Read for sample-rate variables only (the rate of a sibling array)."""


@dataclass
class Export:
    """Signals made from browsed nodes, and the variables that could not become one."""

    signals: list[dict[str, Any]]
    skipped: list[tuple[str, str]]
    """``(browse path, reason)`` of each variable left out."""


# built-in types a signal can carry (numbers and booleans; text makes an event)
_NUMERIC_TYPES = frozenset(
    {*(t for t in SCALAR_TYPES if t != "String"), "Number", "Integer", "UInteger"}
)
_TEXT_TYPES = frozenset({"String", "LocalizedText"})
_RATE_NAME = re.compile(r"sampl(e|ing)_?(rate|freq(uency)?)", re.IGNORECASE)


def signal_name(path: str) -> str:
    """A signal name from a browse path: the path below the top-level object, snake_case.

    The first element of a path is the object directly under ``Objects`` (the machine);
    it is dropped whenever something is below it, so every name of one export follows
    the same rule. A variable directly under ``Objects`` keeps its own name.

    >>> signal_name("CNC01/Spindle/Speed")
    'spindle_speed'
    >>> signal_name("CNC01/Speed")
    'speed'
    >>> signal_name("PLC/Line 3/MotorCurrent")
    'line_3_motor_current'
    >>> signal_name("Speed")
    'speed'
    """
    parts = path.split("/")
    tail = parts[1:] if len(parts) > 1 else parts
    text = "_".join(tail)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_").lower()
    return (text or "signal")[:64]


def _unit_of(eu: Any) -> str | None:
    if eu is None:
        return None
    code = bytes(((eu.UnitId >> shift) & 0xFF) for shift in (24, 16, 8, 0)).lstrip(b"\0")
    unit = _UNECE.get(code.decode("ascii", "replace"))
    if unit is None:
        text = (eu.DisplayName.Text or "") if eu.DisplayName is not None else ""
        unit = {"°C": "degC", "%": "percent", "°F": "degF"}.get(text, text)
    try:
        return validate_unit(unit)
    except ValueError:
        return None


async def _describe(node: Any, path: str) -> BrowsedNode:
    from asyncua import ua

    node_class = await node.read_node_class()
    out = BrowsedNode(node.nodeid.to_string(), path, node_class.name)
    if node_class != ua.NodeClass.Variable:
        return out
    attrs = [
        ua.AttributeIds.DataType,
        ua.AttributeIds.ValueRank,
        ua.AttributeIds.Description,
        ua.AttributeIds.AccessLevel,
        ua.AttributeIds.Historizing,
        ua.AttributeIds.ArrayDimensions,
    ]
    values = await node.read_attributes(attrs)
    data_type = values[0].Value.Value if values[0].StatusCode.is_good() else None
    if data_type is not None:
        builtin = data_type.NamespaceIndex == 0
        out.data_type = (
            ua.ObjectIdNames.get(data_type.Identifier, str(data_type))
            if builtin
            else data_type.to_string()
        )
    out.value_rank = values[1].Value.Value if values[1].StatusCode.is_good() else None
    desc = values[2].Value.Value if values[2].StatusCode.is_good() else None
    out.description = (desc.Text or "") if desc is not None else ""
    access = values[3].Value.Value if values[3].StatusCode.is_good() else 0
    out.writable = bool(access & ua.AccessLevel.CurrentWrite.mask) if access else False
    out.historizing = bool(values[4].Value.Value) if values[4].StatusCode.is_good() else False
    dims = values[5].Value.Value if values[5].StatusCode.is_good() else None
    out.array_length = int(dims[0]) if dims and dims[0] else None
    if _RATE_NAME.search(path.rsplit("/", 1)[-1]) and (out.value_rank or -1) < 1:
        try:
            out.value = float(await node.read_value())
        except Exception:  # not a number, or not readable: no rate from it
            out.value = None
    try:
        eu = await node.get_child("0:EngineeringUnits")
        out.unit = _unit_of(await eu.read_value())
    except Exception:  # no EngineeringUnits property: the unit stays unknown
        out.unit = None
    return out


async def browse_server(
    client: Any, *, search: str | None = None, depth: int = 6, max_nodes: int = 10_000
) -> list[BrowsedNode]:
    """Walk the Objects folder breadth-first up to ``depth`` levels.

    Variables whose browse path or description contains ``search`` (case-insensitive)
    are returned; without ``search``, every node is.
    """
    root = client.nodes.objects
    found: list[BrowsedNode] = []
    level: list[tuple[Any, str]] = [(root, "")]
    seen: set[str] = set()
    needle = search.lower() if search else None
    semaphore = asyncio.Semaphore(16)

    from asyncua import ua

    async def children(node: Any, path: str) -> list[tuple[Any, str]]:
        async with semaphore:
            out = []
            # components and folder contents, not properties (EngineeringUnits, EURange...)
            found = [
                *await node.get_children(refs=ua.ObjectIds.Organizes),
                *await node.get_children(refs=ua.ObjectIds.HasComponent),
            ]
            for child in found:
                name = (await child.read_browse_name()).Name
                out.append((child, f"{path}/{name}" if path else name))
            return out

    async def describe(node: Any, path: str) -> BrowsedNode:
        async with semaphore:
            return await _describe(node, path)

    for _ in range(depth):
        batches = await asyncio.gather(*(children(n, p) for n, p in level))
        level = []
        for batch in batches:
            for child, path in batch:
                key = child.nodeid.to_string()
                if key in seen or path.startswith("Server"):
                    continue
                seen.add(key)
                level.append((child, path))
        described = await asyncio.gather(*(describe(n, p) for n, p in level))
        for node in described:
            if needle is None or needle in node.path.lower() or needle in node.description.lower():
                found.append(node)
        if not level or len(seen) > max_nodes:
            break
    return found


def _sample_rate(node: BrowsedNode, nodes: list[BrowsedNode]) -> float | None:
    """The value of a sample-rate variable beside an array node (same parent), in Hz."""
    parent = node.path.rsplit("/", 1)[0] if "/" in node.path else ""
    for other in nodes:
        other_parent, _, name = other.path.rpartition("/")
        if other_parent == parent and other.value and _RATE_NAME.search(name):
            scale = {"kHz": 1000.0, "MHz": 1e6}.get(other.unit or "", 1.0)
            return other.value * scale
    return None


def _skip_reason(node: BrowsedNode) -> str | None:
    if node.data_type is None:
        return "its data type cannot be read"
    is_array = node.value_rank is not None and node.value_rank >= 1
    if node.data_type in _NUMERIC_TYPES:
        return None
    if node.data_type in _TEXT_TYPES and not is_array:
        return None
    what = "an array of " if is_array else ""
    return f"{what}{node.data_type} is not a number or text"


def nodes_to_signals(nodes: list[BrowsedNode], connector: str) -> Export:
    """Signal definitions (for ``assets[].signals``) of the variables among ``nodes``.

    Numbers and booleans become scalars, text becomes an event signal, arrays of numbers
    become waveforms with ``sample_rate_hz`` (when a sibling variable named like
    ``SampleRate`` holds it) and ``source_options.samples_per_block`` (the declared array
    length; the connector checks each block against it). Writable variables are exported
    like the others: a bound signal is only read. Sample-rate variables themselves are
    exported as scalars too. Everything else is returned in :attr:`Export.skipped` with
    the reason.
    """
    signals: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    names: set[str] = set()
    for node in nodes:
        if node.node_class != "Variable":
            continue
        reason = _skip_reason(node)
        if reason is not None:
            skipped.append((node.path, reason))
            continue
        name = signal_name(node.path)
        base, i = name, 2
        while name in names:
            name, i = f"{base}_{i}", i + 1
        names.add(name)
        is_array = node.value_rank is not None and node.value_rank >= 1
        kind = "waveform" if is_array else "event" if node.data_type in _TEXT_TYPES else "scalar"
        signal: dict[str, Any] = {"name": name, "kind": kind}
        if node.unit:
            signal["unit"] = node.unit
        if kind == "waveform":
            rate = _sample_rate(node, nodes)
            if rate:
                signal["sample_rate_hz"] = rate
        if node.description:
            signal["description"] = node.description
        signal["connector"] = connector
        signal["source"] = node.node_id
        if kind == "waveform" and node.array_length:
            signal["source_options"] = {"samples_per_block": node.array_length}
        signals.append(signal)
    return Export(signals, skipped)


def signals_yaml(export: Export) -> str:
    """YAML for the ``signals:`` list of an asset, with a note on what to check."""
    lines = [
        "# exported by shopfloor opcua browse: paste under an asset's 'signals:'",
        "# names: the browse path below the top-level object, in snake_case",
        "# waveforms: one block per array value (samples_per_block = the array length the",
        "# server declares); add sample_rate_hz where it is missing; to join several array",
        "# nodes into one multi-channel signal, list them in source_options.channel_nodes",
    ]
    lines += [f"# skipped {path}: {reason}" for path, reason in export.skipped]
    head = "\n".join(lines) + "\n"
    return head + yaml.safe_dump(export.signals, sort_keys=False, allow_unicode=True)


def nodes_to_csv(nodes: list[BrowsedNode]) -> str:
    """Every browsed node as CSV, for a spreadsheet review of a large tag list."""
    buffer = io.StringIO()
    fields = list(asdict(nodes[0])) if nodes else list(BrowsedNode.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for node in nodes:
        writer.writerow(asdict(node))
    return buffer.getvalue()
