"""Register maps: tags resolved against the connector's settings, and CSV import.

A tag is read as a :class:`TagSpec`: its address with the unit filled in (the address's,
else its group's, else the connector's), its :class:`~.values.Layout`, scale, offset and
polling group. Tags come from a signal's ``source`` and ``source_options``, or by name from
the connector's ``tags`` and ``register_map`` CSV.

The CSV has a header row; ``name`` and ``address`` are required, every other column is
optional (an empty cell takes the default). Blank lines and lines starting with ``#`` are
skipped::

    name,address,type,count,byte_order,word_order,scale,offset,group
    oil_temp,input:10,float32,,big,little,,,fast
    speed,holding:0,uint16,,,,0.1,,
    serial,holding:200,string,8,,,,,slow
    door_open,holding:5.3,bitfield,,,,,,
    running,coil:0@2,,,,,,,
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from shopfloor.connectors.modbus.address import Address, parse_address
from shopfloor.connectors.modbus.config import ModbusConfig, ModbusTag, ModbusTagOptions
from shopfloor.connectors.modbus.values import Layout
from shopfloor.errors import ConfigError

__all__ = [
    "CSV_COLUMNS",
    "TagSpec",
    "load_register_map",
    "parse_register_map",
    "resolve_tag",
    "spec_of",
    "tags_by_name",
]

CSV_COLUMNS = (
    "name",
    "address",
    "type",
    "count",
    "byte_order",
    "word_order",
    "scale",
    "offset",
    "group",
)
"""Columns a register map CSV may have, in the documented order (any order is read)."""


@dataclass(frozen=True, slots=True)
class TagSpec:
    """A tag ready to read: where, on which unit, how to decode, how often."""

    address: Address
    unit: int
    layout: Layout
    scale: float = 1.0
    offset: float = 0.0
    group: str = "default"

    @property
    def start(self) -> int:
        """First address read."""
        return self.address.address

    @property
    def size(self) -> int:
        """Addresses spanned: registers, or 1 for a coil or discrete input."""
        return 1 if self.address.is_bit else self.layout.registers

    @property
    def label(self) -> str:
        """``table:address[.bit]@unit``, for messages and dead letters."""
        return str(Address(self.address.table, self.start, self.address.bit, self.unit))


def resolve_tag(address: Address, options: ModbusTagOptions, config: ModbusConfig) -> TagSpec:
    """The :class:`TagSpec` of ``address`` read with ``options`` on connector ``config``.

    Raises
    ------
    ValueError
        The type does not suit the table or the bit, or the group is unknown.
    """
    kind = options.type
    if address.is_bit:
        if kind not in (None, "bool"):
            raise ValueError(f"{address} is a single bit: its type is bool, not {kind}")
        kind = "bool"
    elif address.bit is not None:
        if kind not in (None, "bitfield"):
            raise ValueError(f"{address} names bit {address.bit}: its type is bitfield, not {kind}")
        kind = "bitfield"
    elif kind == "bitfield":
        raise ValueError(f"a bitfield names its bit in the address, e.g. {address}.0")
    elif kind is None:
        kind = "uint16"
    if options.group != "default" and options.group not in config.groups:
        known = ", ".join(["default", *sorted(config.groups)])
        raise ValueError(f"polling group {options.group!r} is not defined (groups: {known})")
    layout = Layout(
        kind,
        options.byte_order,
        options.word_order,
        options.count or 1,
        address.bit or 0,
    )
    if address.address + layout.registers > 0x10000:
        raise ValueError(f"{address} with {layout.registers} registers runs past 65535")
    unit = address.unit if address.unit is not None else config.group_unit(options.group)
    return TagSpec(address, unit, layout, options.scale, options.offset, options.group)


def parse_register_map(text: str, name: str = "<register map>") -> list[ModbusTag]:
    """The tags of a register map CSV; ``name`` is the file named in errors.

    Raises
    ------
    ConfigError
        ``file:line:column: column 'x': what is wrong (got value)`` for the first bad cell.
    """
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    tags: list[ModbusTag] = []
    seen: dict[str, int] = {}
    for cells in rows:
        line = rows.line_num
        if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [c.strip().lower() for c in cells]
            for column, title in enumerate(header, 1):
                if title not in CSV_COLUMNS:
                    raise ConfigError(
                        f"{name}:{line}:{column}: unknown column {title!r} "
                        f"(columns: {', '.join(CSV_COLUMNS)})"
                    )
            for required in ("name", "address"):
                if required not in header:
                    raise ConfigError(f"{name}:{line}:1: the header has no {required!r} column")
            continue
        if len(cells) > len(header):
            raise ConfigError(
                f"{name}:{line}:{len(header) + 1}: {len(cells)} cells, the header has "
                f"{len(header)} columns"
            )
        raw = {title: cell.strip() for title, cell in zip(header, cells, strict=False)}
        values = {title: cell for title, cell in raw.items() if cell != ""}
        try:
            tag = ModbusTag.model_validate(values)
        except ValidationError as err:
            raise _cell_error(err, name, line, header, raw) from None
        if tag.name in seen:
            raise ConfigError(
                f"{name}:{line}:{header.index('name') + 1}: tag {tag.name!r} is already "
                f"defined on line {seen[tag.name]}"
            )
        seen[tag.name] = line
        tags.append(tag)
    return tags


def _cell_error(
    err: ValidationError, name: str, line: int, header: list[str], raw: dict[str, str]
) -> ConfigError:
    """The first problem of a row, located at its cell."""
    first = err.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if field in header:
        column = header.index(field) + 1
        return ConfigError(
            f"{name}:{line}:{column}: column {field!r}: {message} (got {raw.get(field, '')!r})"
        )
    return ConfigError(f"{name}:{line}:1: {message}")


def load_register_map(path: Path) -> list[ModbusTag]:
    """The tags of the register map CSV at ``path``.

    Raises
    ------
    ConfigError
        The file cannot be read, or a cell is wrong (``file:line:column``).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"register map {path}: {err}") from err
    return parse_register_map(text, str(path))


def tags_by_name(config: ModbusConfig, extra: Iterable[ModbusTag] = ()) -> dict[str, ModbusTag]:
    """Named tags of a connector: inline ``tags`` and those of its register map."""
    found: dict[str, ModbusTag] = {}
    for tag in [*config.tags, *extra]:
        if tag.name in found:
            raise ConfigError(
                f"connector {config.name!r}: tag {tag.name!r} is defined twice (tags and "
                "register_map)"
            )
        found[tag.name] = tag
    return found


def spec_of(tag: ModbusTag, config: ModbusConfig) -> TagSpec:
    """The :class:`TagSpec` of a named tag."""
    return resolve_tag(parse_address(tag.address), tag, config)
