"""Settings of a Modbus TCP connector, and of each tag it reads."""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.modbus.address import parse_address
from shopfloor.connectors.modbus.values import DataType, Order

__all__ = [
    "DEFAULT_GROUP",
    "MAX_BITS_PER_READ",
    "MAX_REGISTERS_PER_READ",
    "ModbusConfig",
    "ModbusTag",
    "ModbusTagOptions",
    "PollGroup",
]

MAX_REGISTERS_PER_READ = 125
"""The protocol's limit for one read of holding or input registers."""
MAX_BITS_PER_READ = 2000
"""The protocol's limit for one read of coils or discrete inputs."""
DEFAULT_GROUP = "default"
"""The polling group of a tag that names none: every ``poll_interval_ms``."""


class ModbusTagOptions(BaseModel):
    """How to read one tag (``source_options`` of a signal bound to a Modbus connector).

    ``type`` defaults to ``bool`` on coils and discrete inputs, ``bitfield`` for an
    address with ``.bit``, and ``uint16`` otherwise. The value stored is
    ``raw * scale + offset`` in the signal's unit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: DataType | None = None
    count: int | None = Field(
        default=None, ge=1, le=MAX_REGISTERS_PER_READ, description="Registers of a string."
    )
    byte_order: Order = Field(default="big", description="Bytes within each register.")
    word_order: Order = Field(default="big", description="Registers of a multi-register value.")
    scale: float = 1.0
    offset: float = 0.0
    group: str = Field(default=DEFAULT_GROUP, description="Polling group (see groups).")

    @field_validator("scale", "offset")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.scale == 0:
            raise ValueError("scale must not be 0 (a write could not be turned back into raw)")
        if self.type == "string" and self.count is None:
            raise ValueError("a string needs count (how many registers it spans)")
        if self.type != "string" and self.count is not None:
            raise ValueError(f"count is for strings only, not {self.type or 'the default type'}")
        return self


class ModbusTag(ModbusTagOptions):
    """One row of a register map: a named tag that a signal binds with ``source: <name>``."""

    name: str = Field(min_length=1)
    address: str = Field(description="table:address[.bit][@unit], e.g. holding:100")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or ":" in value:
            raise ValueError(f"tag name {value!r} must be non-empty and without ':'")
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return str(parse_address(value))


class PollGroup(BaseModel):
    """Tags read together at their own interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_ms: float = Field(gt=0)
    unit_id: int | None = Field(
        default=None, ge=0, le=255, description="Unit of its tags (default: the connector's)."
    )


class ModbusConfig(ConnectorConfig):
    """One Modbus TCP device (or gateway).

    Example::

        - name: press
          type: modbus
          host: 10.0.0.5
          port: 502
          unit_id: 1
          poll_interval_ms: 1000          # the "default" group
          groups:
            fast: {interval_ms: 100}
            drive: {interval_ms: 500, unit_id: 3}
          register_map: press-map.csv     # optional: named tags (see the docs)

    Signals bound to it give ``source: holding:100`` (or the name of a register-map tag)
    and the tag's type, orders, scale and group in ``source_options``
    (:class:`ModbusTagOptions`).
    """

    signal_options: ClassVar[builtins.type[BaseModel]] = ModbusTagOptions

    type: Literal["modbus"] = "modbus"
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255, description="Unit of tags that give none.")
    timeout_s: float = Field(default=3.0, gt=0, description="Per request and connect.")
    poll_interval_ms: float = Field(default=1000.0, gt=0, description="The default group's.")
    groups: dict[str, PollGroup] = Field(default_factory=dict)
    max_gap_registers: int = Field(
        default=8,
        ge=0,
        description="Unused registers a read may span to merge two tags into one request.",
    )
    max_gap_bits: int = Field(default=64, ge=0, description="The same for coils and inputs.")
    max_registers_per_read: int = Field(default=MAX_REGISTERS_PER_READ, ge=1, le=125)
    max_bits_per_read: int = Field(default=MAX_BITS_PER_READ, ge=1, le=2000)
    register_map: str | None = Field(
        default=None, description="CSV of named tags (relative to the project folder)."
    )
    tags: list[ModbusTag] = Field(default_factory=list, description="Named tags, inline.")
    verify_writes: bool = Field(default=True, description="Read back every write and compare.")
    flush_interval_ms: float = Field(
        default=100.0, gt=0, description="How long polled values are batched before handing on."
    )

    @model_validator(mode="after")
    def _names(self) -> Self:
        seen: set[str] = set()
        for tag in self.tags:
            if tag.name in seen:
                raise ValueError(f"tag {tag.name!r} is defined twice in tags")
            seen.add(tag.name)
        return self

    def source_problem(self, source: str, options: Mapping[str, Any]) -> str | None:
        """An address that cannot be read as given, or a tag name that is nowhere.

        A name that is not an inline tag may be in the register map, which is read when
        the connector starts (and refused there with file, line and column).
        """
        from shopfloor.connectors.modbus.registermap import resolve_tag

        if any(tag.name == source for tag in self.tags):
            return None
        if ":" not in source:
            if self.register_map is not None:
                return None
            return (
                f"{source!r} is neither an address (holding:100, coil:3, ...) nor a tag of "
                f"connector {self.name!r}"
            )
        try:
            resolve_tag(parse_address(source), ModbusTagOptions.model_validate(options), self)
        except ValueError as err:
            return str(err)
        return None

    def interval_s(self, group: str) -> float:
        """Polling interval of ``group`` in seconds."""
        if group == DEFAULT_GROUP and group not in self.groups:
            return self.poll_interval_ms / 1000
        return self.groups[group].interval_ms / 1000

    def group_unit(self, group: str) -> int:
        """Unit id of the tags of ``group`` that give none in their address."""
        chosen = self.groups.get(group)
        return self.unit_id if chosen is None or chosen.unit_id is None else chosen.unit_id
