"""The write-back allow-list: the ``writeback:`` section of the project file.

Nothing is written to a machine unless its target is listed here *and* an alert rule's
``writeback`` asks for it. Per connector, the targets it may write, each with an
optional data type and range the configured values must fit (checked by ``shopfloor
validate`` and again before every write), a minimum interval between writes, and how
often a failed write is tried::

    writeback:
      - connector: cnc
        min_interval_s: 1.0          # per target; writes in between are coalesced
        attempts: 3                  # then the write is given up (in health and history)
        targets:
          - {address: "ns=2;s=CNC01.Alarm.Active", type: Boolean}
          - {address: "ns=2;s=CNC01.Alarm.Severity", type: Int32, min: 1, max: 1000}
          - {address: "2:CNC01/2:Alarm/2:Message"}     # a browse path works too

The type written is always the one the machine reports for the node; ``type`` here is
what the configured values must fit, so a mistake shows in ``validate``, not at 3 am.

A *request register* (a reject gate's part id, which the PLC takes and sets back to 0)
takes every value, not the latest one: ``queue: true`` writes each requested value in
order, still ``min_interval_s`` apart, and ``rest: 0`` accepts a read-back of 0 as the
device having taken the value already::

    writeback:
      - connector: plc
        min_interval_s: 0.3          # at least one PLC cycle between two part ids
        targets:
          - {address: reject_request, type: UInt32, queue: true, rest: 0}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shopfloor.connectors.writes import ScalarType, WriteValue, convert_value
from shopfloor.errors import WriteRefused
from shopfloor.retry import RetryPolicy

__all__ = ["WritebackConnectorConfig", "WritebackTargetConfig"]


class WritebackTargetConfig(BaseModel):
    """One address a connector may write, with what its values must fit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field(min_length=1, description="Node id or browse path.")
    type: ScalarType | None = Field(
        default=None, description="The data type values must fit (the machine's is written)."
    )
    min: float | None = Field(default=None, description="Smallest number allowed.")
    max: float | None = Field(default=None, description="Largest number allowed.")
    min_interval_s: float | None = Field(
        default=None, ge=0, description="Overrides the connector entry's."
    )
    queue: bool = Field(
        default=False,
        description="Write every requested value in order (a request register), not only the "
        "latest.",
    )
    max_queued: int = Field(
        default=1000, ge=1, description="queue: values that may wait; beyond, the oldest is lost."
    )
    rest: bool | int | float | str | None = Field(
        default=None,
        description="The value the device sets the target back to once it took a write: read "
        "back instead of the value written, it counts as verified.",
    )

    @model_validator(mode="after")
    def _range(self) -> WritebackTargetConfig:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is larger than max ({self.max:g})")
        if self.type in ("Boolean", "String") and (self.min is not None or self.max is not None):
            raise ValueError(f"a {self.type} target has no min or max")
        return self

    def admit(self, value: WriteValue, *, what: str = "value") -> WriteValue:
        """``value`` converted to :attr:`type` (if given) and checked against the range.

        Raises
        ------
        WriteRefused
            When it does not fit the type or lies outside ``min``..``max``.
        """
        if self.type is not None:
            value = convert_value(value, self.type, what=what)
        if self.min is None and self.max is None:
            return value
        number = convert_value(value, "Double", what=what)
        assert isinstance(number, float)  # Double converts to a float
        low = -float("inf") if self.min is None else self.min
        high = float("inf") if self.max is None else self.max
        if not low <= number <= high:
            raise WriteRefused(
                f"{what}: {value!r} is outside the allowed range "
                f"{'' if self.min is None else f'{self.min:g}'}.."
                f"{'' if self.max is None else f'{self.max:g}'}"
            )
        return value


class WritebackConnectorConfig(BaseModel):
    """The targets one connector may write, and how its writes are paced and retried."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connector: str
    targets: list[WritebackTargetConfig] = Field(min_length=1)
    min_interval_s: float = Field(
        default=1.0, ge=0, description="Least time between two writes of one target."
    )
    attempts: int = Field(default=3, ge=1, le=20, description="Tries of one write.")
    timeout_s: float = Field(default=10.0, gt=0, description="One try, all requests.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Delays between tries.")

    @model_validator(mode="after")
    def _unique(self) -> WritebackConnectorConfig:
        seen: set[str] = set()
        for target in self.targets:
            if target.address in seen:
                raise ValueError(f"target {target.address!r} is listed twice")
            seen.add(target.address)
        return self

    def target(self, address: str) -> WritebackTargetConfig | None:
        """The allow-listed target at ``address``, or ``None``."""
        return next((t for t in self.targets if t.address == address), None)

    def interval_s(self, target: WritebackTargetConfig) -> float:
        """The minimum interval between two writes of ``target``."""
        return self.min_interval_s if target.min_interval_s is None else target.min_interval_s
