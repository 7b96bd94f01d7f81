"""Deployments and alert rules in the project file."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfloor.model import validate_segment

__all__ = [
    "TEMPLATE_FIELDS",
    "AlertRuleConfig",
    "DeploymentConfig",
    "RejectConfig",
    "RuntimeConfig",
    "WritebackConfig",
]

TEMPLATE_FIELDS = ("rule", "asset", "severity", "state", "message", "value")
"""What a write-back text may name, as ``{message}``: fields of the alert written for."""


def _name(value: str) -> str:
    return validate_segment(value, what="name")


class DeploymentConfig(BaseModel):
    """A model running on live data: ``shadow`` scores without alerting, ``active`` alerts.

    Applied when the platform starts, once: a deployment of the project file that the
    store does not hold yet is deployed (audited as made by ``factory.yaml``); later
    changes (``shopfloor deploy``, ``rollback``, ``deployments stop``) are kept in the
    store and win over the file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    model: str
    version: str = Field(
        default="latest", description="A version number, a stage (production) or latest."
    )
    mode: Literal["shadow", "active"] = "shadow"
    assets: list[str] = Field(
        default_factory=list, description="Where it runs (default: the asset of its pipeline)."
    )


class RuntimeConfig(BaseModel):
    """How the runtime scores: threads and how often it reads the desired state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scoring_workers: int = Field(
        default=1, ge=1, le=64, description="Threads that score deployments (shared by all)."
    )
    reconcile_s: float = Field(
        default=1.0, gt=0, description="How often deployments changed in the store are applied."
    )


def _check_template(value: bool | int | float | str | None) -> bool | int | float | str | None:
    if not isinstance(value, str):
        return value
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as err:
        raise ValueError(f"text {value!r}: {err} (write a brace as {{{{ or }}}})") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(
                f"text {value!r} names {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}; it may name {{"
                + "}, {".join(TEMPLATE_FIELDS)
                + "} (no format spec)"
            )
    return value


class WritebackConfig(BaseModel):
    """A value an alert writes to a machine when it is raised (and, optionally, resolved).

    Only targets listed in the project's ``writeback`` allow-list are ever written
    (:mod:`shopfloor.runtime.writeback`). The target's data type comes from the machine:
    ``value`` is converted to it (``true`` to a Boolean node, ``800`` to an Int32). Text
    may name the alert's fields (``"{message}"``, see :data:`TEMPLATE_FIELDS`).

    Example::

        writeback:
          - {connector: cnc, address: "ns=2;s=CNC01.Alarm.Active", value: true, reset: false}
          - {connector: cnc, address: "ns=2;s=CNC01.Alarm.Message", value: "{message}",
             reset: ""}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    connector: str
    address: str = Field(min_length=1, description="Node id or browse path, as allow-listed.")
    value: Annotated[bool | int | float | str, AfterValidator(_check_template)] = Field(
        default=True, description="Written when the alert is raised."
    )
    reset: Annotated[bool | int | float | str | None, AfterValidator(_check_template)] = Field(
        default=None, description="Written when the alert resolves (None: nothing is written)."
    )

    def value_for(
        self, phase: Literal["raised", "resolved"], fields: Mapping[str, object]
    ) -> bool | int | float | str | None:
        """The value to write on ``phase`` (None: nothing), text filled in from ``fields``.

        Examples
        --------
        >>> w = WritebackConfig(connector="cnc", address="i=1", value="{rule}: {message}")
        >>> w.value_for("raised", {"rule": "hot", "message": "too hot"})
        'hot: too hot'
        >>> w.value_for("resolved", {}) is None
        True
        """
        value = self.value if phase == "raised" else self.reset
        if not isinstance(value, str):
            return value
        filled = {
            name: "" if fields.get(name) is None else fields[name] for name in TEMPLATE_FIELDS
        }
        return value.format_map(filled)


class AlertRuleConfig(BaseModel):
    """When a signal (or a deployment's score) becomes an alert.

    Four kinds:

    - ``threshold``: the value is beyond ``threshold`` (``condition`` above or below);
    - ``rate_of_change``: ``|Δvalue / Δt|`` per second over the last ``window_s`` is above
      ``threshold``;
    - ``stale``: no value has arrived for ``stale_s``;
    - ``defect_rate``: the share of defective items among the last ``window_n`` items (or
      those of the last ``window_s``) is above ``threshold`` (0..1). It reads a state
      signal (a deployment's ``state``, which a deployment ``output`` defaults to for this
      kind): 2 (alarm: an image classified defective) counts as defective, 0 as good; 1
      (uncertain, sent to manual review) and unknown values are left out of the count.
      Nothing is said before ``min_values`` items are in the window (default: all of
      ``window_n``, else 1).

    The alert raises once the condition has held for ``for_s`` seconds and, with
    ``auto_resolve``, resolves once it has been back past ``threshold ∓ hysteresis`` for
    ``clear_for_s`` (default ``for_s``). An unknown value (NaN, bad quality) never counts
    as back to normal. ``notify`` names the notifiers that are told (default: all).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(_name)]
    kind: Literal["threshold", "rate_of_change", "stale", "defect_rate"] = "threshold"
    signal: str | None = Field(default=None, description="asset/signal path of a scalar signal.")
    deployment: str | None = Field(
        default=None,
        description="Alert on this deployment's output, on every asset it runs on in active mode.",
    )
    output: Literal["score", "health_index", "state", "confidence", "latency_ms"] = Field(
        default="score",
        description=(
            "With 'deployment': which of its signals (state: 0 normal, 1 warning, 2 alarm; "
            "confidence and latency_ms: an image classifier's). defect_rate: state."
        ),
    )
    condition: Literal["above", "below"] = "above"
    threshold: float | None = Field(
        default=None, description="The limit (for rate_of_change: in signal units per second)."
    )
    hysteresis: float = Field(default=0.0, ge=0)
    window_s: float | None = Field(
        default=None,
        gt=0,
        description="rate_of_change, defect_rate: the span the rate is taken over.",
    )
    window_n: int | None = Field(
        default=None, ge=1, description="defect_rate: the last this many items (parts)."
    )
    min_values: int | None = Field(
        default=None,
        ge=1,
        description="defect_rate: items needed before judging (default: window_n, else 1).",
    )
    stale_s: float | None = Field(
        default=None, gt=0, description="stale: how long without a value raises."
    )
    for_s: float = Field(default=0.0, ge=0, description="Persistence before raising.")
    clear_for_s: float | None = Field(
        default=None, ge=0, description="Persistence before resolving (default: for_s)."
    )
    severity: Literal["info", "warning", "alarm", "critical"] = "warning"
    auto_resolve: bool = Field(default=True, description="Resolve when the condition clears.")
    notify: list[str] | None = Field(
        default=None, description="Names of the notifiers told (default: all of them)."
    )
    message: str | None = Field(default=None, description="What a person reads; default: made up.")
    writeback: list[WritebackConfig] = Field(
        default_factory=list,
        description="Values written to machines (one mapping or a list); see WritebackConfig.",
    )

    @field_validator("writeback", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, Mapping) else value

    @model_validator(mode="before")
    @classmethod
    def _defect_rate_reads_state(cls, data: Any) -> Any:
        if (
            isinstance(data, Mapping)
            and data.get("kind") == "defect_rate"
            and data.get("deployment") is not None
            and "output" not in data
        ):
            return {**data, "output": "state"}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.signal is None) == (self.deployment is None):
            raise ValueError("give exactly one of 'signal' or 'deployment'")
        needs = {
            "threshold": ("threshold",),
            "rate_of_change": ("threshold", "window_s"),
            "defect_rate": ("threshold",),
        }
        for key in needs.get(self.kind, ("stale_s",)):
            if getattr(self, key) is None:
                raise ValueError(f"a {self.kind} rule needs {key!r}")
        if self.kind == "defect_rate":
            self._check_defect_rate()
        else:
            for key in ("window_n", "min_values"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key!r} is for defect_rate rules, not {self.kind}")
        if self.kind == "stale" and self.threshold is not None:
            raise ValueError("a stale rule has no 'threshold' (it watches for missing values)")
        if self.kind == "rate_of_change" and self.threshold is not None and self.threshold < 0:
            raise ValueError(f"a rate_of_change threshold is a magnitude, got {self.threshold:g}")
        return self

    def _check_defect_rate(self) -> None:
        assert self.threshold is not None  # checked before
        if (self.window_n is None) == (self.window_s is None):
            raise ValueError("a defect_rate rule needs exactly one of 'window_n' or 'window_s'")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(
                f"a defect_rate threshold is a share of items from 0 to 1, got {self.threshold:g}"
            )
        if self.deployment is not None and self.output != "state":
            raise ValueError(
                f"a defect_rate rule counts the deployment's state (2: defective), not its "
                f"{self.output!r}: leave 'output' out or set it to state"
            )
        if self.condition != "above":
            raise ValueError("a defect_rate rule raises above its threshold (condition: above)")
        n, least = self.window_n, self.min_values
        if n is not None and least is not None and least > n:
            raise ValueError(f"min_values ({least}) is more than the window holds (window_n {n})")

    @property
    def least_values(self) -> int:
        """defect_rate: how many items the window needs before the rule judges."""
        if self.min_values is not None:
            return self.min_values
        return self.window_n if self.window_n is not None else 1

    @property
    def clear_after_s(self) -> float:
        """How long the condition must stay cleared before it resolves."""
        return self.for_s if self.clear_for_s is None else self.clear_for_s


class RejectConfig(BaseModel):
    """Parts an image deployment classifies as defective, rejected at the machine.

    For each image an *active* deployment ``deployment`` classifies as defective (any
    class but ``good``, or only those of ``classes``), the image's part id (its
    ``part_id`` attribute; a number when it is all digits) is written to ``address`` of
    ``connector``, which must be in the project's ``writeback`` allow-list (a queued
    request register, see :mod:`shopfloor.runtime.writeback.config`). An ``uncertain``
    part goes to manual review (counted, and an event ``review``) unless ``uncertain:
    reject``. A part whose image is older than ``max_age_s`` when it is classified (a
    backlog after a restart) has left the gate: it is counted as ``too_late``, not
    written. A shadow deployment never rejects.

    Example::

        rejects:
          - {deployment: carton-qc, connector: plc, address: reject_request}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: Annotated[str, AfterValidator(_name)]
    connector: str
    address: str = Field(min_length=1, description="The allow-listed target, e.g. a tag name.")
    classes: list[str] | None = Field(
        default=None, description="The classes rejected (default: every class but good)."
    )
    uncertain: Literal["review", "reject"] = Field(
        default="review", description="What becomes of an uncertain part."
    )
    max_age_s: float = Field(
        default=10.0, gt=0, description="Older images' parts have passed the gate: not written."
    )
