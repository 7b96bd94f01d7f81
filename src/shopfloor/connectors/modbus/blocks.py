"""Block reads: tags of one table and unit merged into as few requests as the limits allow.

Each request costs a round trip, so tags that sit next to each other (or nearly: at most
``max_gap`` unused addresses between them) are read together, up to the protocol's 125
registers or 2000 bits per request. A device that refuses a merged read because the gap
holds addresses it does not have is read tag by tag instead (see :func:`split`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shopfloor.connectors.modbus.address import Table
from shopfloor.connectors.modbus.registermap import TagSpec

__all__ = ["Block", "plan_blocks", "split"]

T = TypeVar("T")


@dataclass(frozen=True)
class Block(Generic[T]):
    """One read request: ``count`` addresses of ``table`` from ``start`` on ``unit``.

    ``items`` are what the caller attached to each tag (the tag is ``spec``), in address
    order.
    """

    table: Table
    unit: int
    start: int
    count: int
    items: tuple[tuple[TagSpec, T], ...]

    @property
    def label(self) -> str:
        """``holding:100..124@1``, for messages."""
        end = self.start + self.count - 1
        return f"{self.table}:{self.start}..{end}@{self.unit}"

    def slice(self, values: Sequence[int], spec: TagSpec) -> list[int]:
        """The part of a read of this block that holds ``spec``."""
        begin = spec.start - self.start
        return list(values[begin : begin + spec.size])


def plan_blocks(
    tags: Sequence[tuple[TagSpec, T]],
    *,
    max_gap_registers: int = 8,
    max_gap_bits: int = 64,
    max_registers: int = 125,
    max_bits: int = 2000,
) -> list[Block[T]]:
    """Merge ``tags`` into read requests, by table and unit, in address order.

    Two tags share a request when at most ``max_gap_*`` unused addresses lie between them
    and the request stays within ``max_registers`` (``max_bits`` for coils and discrete
    inputs). Overlapping tags (a register read as a bitfield and as a whole) share it too.

    Examples
    --------
    >>> from shopfloor.connectors.modbus.address import parse_address
    >>> from shopfloor.connectors.modbus.values import Layout
    >>> def tag(text, kind="uint16"):
    ...     return TagSpec(parse_address(text), 1, Layout(kind)), text
    >>> [b.label for b in plan_blocks([tag("holding:0"), tag("holding:2", "float32"),
    ...                                tag("holding:40"), tag("input:0")])]
    ['holding:0..3@1', 'holding:40..40@1', 'input:0..0@1']
    """
    by_table: dict[tuple[Table, int], list[tuple[TagSpec, T]]] = defaultdict(list)
    for spec, item in tags:
        by_table[(spec.address.table, spec.unit)].append((spec, item))
    blocks: list[Block[T]] = []
    for (table, unit), members in sorted(by_table.items()):
        bits = table in ("coil", "discrete")
        gap = max_gap_bits if bits else max_gap_registers
        limit = max_bits if bits else max_registers
        members.sort(key=lambda m: (m[0].start, m[0].size))
        current: list[tuple[TagSpec, T]] = []
        start = end = 0
        for spec, item in members:
            if (
                current
                and spec.start - end <= gap
                and max(end, spec.start + spec.size) - start <= limit
            ):
                current.append((spec, item))
                end = max(end, spec.start + spec.size)
                continue
            if current:
                blocks.append(Block(table, unit, start, end - start, tuple(current)))
            current, start, end = [(spec, item)], spec.start, spec.start + spec.size
        if current:
            blocks.append(Block(table, unit, start, end - start, tuple(current)))
    return blocks


def split(block: Block[T]) -> list[Block[T]]:
    """One block per tag of ``block`` (after a device refused the merged read)."""
    return [
        Block(block.table, block.unit, spec.start, spec.size, ((spec, item),))
        for spec, item in block.items
    ]
