"""What the listing commands show, as tables of plain cells: :class:`Listing`.

The services return JSON-ready data; the functions here say how that data reads as a
table (title, columns, one row per item), so that the command line, the API's clients
and Studio show the same columns. Cells are plain values: no markup, no styles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shopfloor.connectors.modbus.scan import ScannedAddress
    from shopfloor.connectors.opcua.browse import BrowsedNode

__all__ = [
    "Listing",
    "dead_letters_listing",
    "events_listing",
    "nodes_listing",
    "pipelines_listing",
    "registers_listing",
    "signals_listings",
    "topics_listing",
    "values_listing",
]

SHOWN_ROWS = 40
"""Rows of a signal's values shown in a table: the first and the last half of them."""


@dataclass(frozen=True)
class Listing:
    """A titled table of plain cells.

    Parameters
    ----------
    title
        What the table lists (with how many), or ``None``.
    columns
        Column headers.
    rows
        One tuple of cells per row, in column order.
    numbers
        Columns of numbers (shown flush right).
    whole
        Columns never folded (names); the others fold when the table is too wide.
    """

    title: str | None
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    numbers: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()


def values_listing(result: Mapping[str, Any]) -> Listing:
    """A signal's values (:func:`~shopfloor.services.query.query_signal`), cut in the middle."""
    rows = [tuple(row.values()) for row in result["rows"]]
    columns = tuple(result["rows"][0]) if rows else ()
    if len(rows) > SHOWN_ROWS:
        half = SHOWN_ROWS // 2
        rows = [*rows[:half], ("…",) * len(columns), *rows[-half:]]
    return Listing(
        f"{result['signal']} [{result['unit'] or '-'}] ({len(result['rows']):,} rows)",
        columns,
        rows,
        numbers=tuple(c for c in columns if c != "ts"),
    )


def signals_listings(rows: Sequence[Mapping[str, Any]]) -> list[Listing]:
    """The signals (:func:`~shopfloor.services.query.list_signals`), a table per asset."""
    by_asset: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_asset.setdefault(row["asset"], []).append(row)
    return [
        Listing(
            asset,
            ("signal", "kind", "unit", "count", "first", "last"),
            [
                (r["name"], r["kind"], r["unit"] or "-", f"{r['count']:,}", r["first"], r["last"])
                for r in members
            ],
            numbers=("count",),
            whole=("signal",),
        )
        for asset, members in by_asset.items()
    ]


def events_listing(result: Mapping[str, Any]) -> Listing:
    """Events (:func:`~shopfloor.services.query.list_events`); one asset is named once."""
    shown = result["events"]
    assets = {e["signal"].rpartition("/")[0] for e in shown}
    one = assets.pop() if len(assets) == 1 else None
    return Listing(
        f"events{f' of {one}' if one else ''}: {result['shown']:,} of {result['total']:,}",
        ("ts", "signal", "kind", "severity", "message"),
        [
            (
                e["ts"],
                e["signal"].rpartition("/")[2] if one else e["signal"],
                e["kind"],
                e["severity"],
                e["message"],
            )
            for e in shown
        ],
        whole=("ts",),
    )


def dead_letters_listing(result: Mapping[str, Any]) -> Listing:
    """Dead letters (:func:`~shopfloor.services.query.list_dead_letters`), payloads cut short."""
    return Listing(
        f"dead letters: {result['shown']:,} of {result['total']:,}",
        ("received", "source", "location", "reason", "payload"),
        [
            (d["received"], d["source"], d["location"], d["reason"], _short(d["payload"]))
            for d in result["dead_letters"]
        ],
    )


def pipelines_listing(project: str, rows: Iterable[Mapping[str, Any]]) -> Listing:
    """Pipelines (:func:`~shopfloor.services.pipelines.list_pipelines`) of ``project``.

    What each reads, does and writes, and whether it is fitted (``outdated``: fitted to
    another spec).
    """
    return Listing(
        f"pipelines of {project}",
        ("name", "sources", "window", "steps", "outputs", "hash", "fitted"),
        [_pipeline_row(row) for row in rows],
    )


def nodes_listing(url: str, search: str | None, nodes: Sequence[BrowsedNode]) -> Listing:
    """Nodes browsed on an OPC UA server (``[n]`` after the type of an array)."""
    return Listing(
        f"{url}: {len(nodes)} node(s)" + (f" matching {search!r}" if search else ""),
        ("path", "node id", "class", "type", "unit", "hist.", "description"),
        [
            (
                n.path,
                n.node_id,
                n.node_class,
                (n.data_type or "-")
                + (f"[{n.array_length or ''}]" if (n.value_rank or 0) >= 1 else ""),
                n.unit or "-",
                "yes" if n.historizing else "",
                n.description,
            )
            for n in nodes
        ],
    )


def registers_listing(target: str, found: Sequence[ScannedAddress]) -> Listing:
    """Addresses that answered on a Modbus device, raw and decoded the common ways."""
    table = found[0].table if found else "registers"
    bits = table in ("coil", "discrete")
    columns: tuple[str, ...] = ("address", "value")
    if not bits:
        columns = ("address", "raw", "hex", "int16", "uint16", "float32 ABCD", "float32 CDAB")

    def cell(value: object) -> str:
        return "-" if value is None else str(value)

    rows = [
        (f"{a.table}:{a.address}", str(a.raw))
        if bits
        else (
            f"{a.table}:{a.address}",
            str(a.raw),
            f"0x{a.raw:04X}",
            cell(a.int16),
            cell(a.uint16),
            cell(a.float32),
            cell(a.float32_swapped),
        )
        for a in found
    ]
    unit = f" unit {found[0].unit}" if found else ""
    return Listing(
        f"{target}{unit}: {len(found)} address(es) answered",
        columns,
        rows,
        numbers=columns[1:],
        whole=("address",),
    )


def _short(text: str, most: int = 80) -> str:
    return text if len(text) < most else text[: most - 3] + "…"


def _pipeline_row(row: Mapping[str, Any]) -> tuple[str, ...]:
    if "error" in row:
        return (row["name"], f"cannot be built: {row['error']}", "", "", "", "", "")
    if not row["needs_fit"]:
        fitted = "-"
    elif row["fitted"] is None:
        fitted = "no"
    else:
        fitted = "yes" if row["fitted"]["current"] else "outdated"
    return (
        row["name"],
        ", ".join(row["sources"]),
        f"{row['window_samples']} @ {row['rate_hz']:g} Hz, hop {row['hop_s']:g} s",
        " → ".join(row["steps"]),
        str(row["outputs"]),
        row["spec_hash"][:12],
        fitted,
    )


def topics_listing(broker: str, rows: Sequence[Mapping[str, Any]], seconds: float) -> Listing:
    """What came on each topic of an MQTT broker while listening (``shopfloor mqtt listen``)."""

    def fields(row: Mapping[str, Any]) -> str:
        if row["waveform"]:
            w = row["waveform"]
            return f"{w['channels']} ch × {w['samples']} at {w['sample_rate_hz']:g} Hz"
        if row["image"]:
            shape = "×".join(str(n) for n in row["image"]["shape"])
            return f"{row['image']['format']} {shape}"
        parts = [f"{path}: {'|'.join(f['types'])}" for path, f in row["fields"].items()]
        return _short(", ".join(parts), 100)

    return Listing(
        f"{broker}: {len(rows)} topic(s) in {seconds:.1f} s",
        ("topic", "messages", "rate/s", "kind", "fields"),
        [
            (r["topic"], str(r["messages"]), f"{r['rate_hz']:.2f}", r["kind"], fields(r))
            for r in rows
        ],
        numbers=("messages", "rate/s"),
    )
