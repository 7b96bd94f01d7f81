"""Where a pipeline's results go.

- ``store``: each selected column becomes a derived scalar signal of the asset,
  ``<prefix><column>`` (e.g. ``health.rms.x``), stamped at the window start.
- ``bus``: the same records published on a topic of your choice (not stored unless the
  topic is in the Unified Namespace).
- ``alert``: a threshold on one column with persistence and hysteresis; raising and
  clearing are events of the derived event signal ``<prefix>alert`` (or ``signal``). A
  window whose value is unknown (NaN: a regime the baseline never saw) puts the alert in
  state ``unknown`` (an ``alert_unknown`` event), never in ``normal``.

Derived signals carry the unit of their column; scores and scaled values are dimensionless
(``"1"``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from shopfloor.errors import PipelineConfigError
from shopfloor.model import (
    EventRecord,
    Provenance,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
    validate_segment,
)
from shopfloor.model.condition import Persistence, Transition, threshold_level
from shopfloor.pipelines.config import OutputConfig
from shopfloor.pipelines.frames import FeatureFrame
from shopfloor.pipelines.steps import DIMENSIONLESS

__all__ = ["AlertOutput", "OutputPlan", "build_outputs"]


def _select(columns: dict[str, str], patterns: list[str] | None) -> list[str]:
    if not patterns:
        return list(columns)
    out = [c for c in columns if any(fnmatch.fnmatchcase(c, p) for p in patterns)]
    if not out:
        raise PipelineConfigError(f"output columns {patterns} match none of {', '.join(columns)}")
    return out


@dataclass
class AlertOutput:
    """A threshold on one column with persistence and hysteresis.

    Raised after ``for_s`` beyond the threshold; cleared once back past ``threshold ∓
    hysteresis`` for ``clear_for_s``. A non-finite value (nothing known about the window,
    e.g. its regime is missing from the baseline) makes the state ``unknown`` and emits one
    ``alert_unknown`` event; persistence restarts from the next known value. The state
    machine is :class:`~shopfloor.model.condition.Persistence`, the one the runtime's
    alert rules use too.

    Persistence counts consecutive windows only: a window starting more than ``hop_ns``
    after the previous one follows a data gap, and both ``for_s`` and ``clear_for_s``
    start again from it (a raised alert stays raised across the gap). Without
    ``hop_ns`` the hop is taken as the smallest step between window starts seen so far.
    """

    column: str
    signal: SignalRef
    above: float | None
    below: float | None
    clear: float
    for_s: float
    clear_for_s: float
    severity: str
    name: str
    provenance: Provenance
    hop_ns: int | None = None
    persistence: Persistence = field(init=False)

    def __post_init__(self) -> None:
        self.persistence = Persistence(
            self.for_s, self.clear_for_s, max_gap_ns=self.hop_ns, learn_gap=self.hop_ns is None
        )

    @property
    def active(self) -> bool:
        """Whether the alert stands raised."""
        return self.persistence.active

    @property
    def state(self) -> str:
        """``raised``, ``normal``, or ``unknown`` (the last value was not finite)."""
        return self.persistence.state

    def evaluate(self, frame: FeatureFrame) -> list[EventRecord]:
        """Events (``alert_raised`` / ``alert_cleared``) for the windows of ``frame``."""
        out: list[EventRecord] = []
        values = frame.columns[self.column]
        regimes = frame.regime if len(frame.regime) == len(frame) else [None] * len(frame)
        above = self.above is not None
        threshold = self.above if self.above is not None else self.below
        assert threshold is not None  # build_outputs sets one of them
        for t0, value, regime in zip(frame.t0_ns.tolist(), values.tolist(), regimes, strict=True):
            level = threshold_level(value, above=above, threshold=threshold, clear=self.clear)
            transition = self.persistence.step(t0, level)
            if transition is Transition.UNKNOWN:
                where = f" in regime {regime!r}" if regime else ""
                out.append(
                    EventRecord(
                        self.signal,
                        t0,
                        "alert_unknown",
                        self.provenance,
                        f"{self.name}: {self.column} is unknown{where} (not covered by "
                        "the baseline): the alert cannot tell",
                        "warning",
                        {"rule": self.name, "column": self.column, "regime": regime},
                    )
                )
            elif transition is Transition.RAISED:
                out.append(
                    EventRecord(
                        self.signal,
                        t0,
                        "alert_raised",
                        self.provenance,
                        f"{self.name}: {self.column} = {value:.4g} "
                        f"{'above' if above else 'below'} {threshold:g}",
                        self.severity,
                        {"rule": self.name, "column": self.column, "value": value},
                    )
                )
            elif transition is Transition.CLEARED:
                out.append(
                    EventRecord(
                        self.signal,
                        t0,
                        "alert_cleared",
                        self.provenance,
                        f"{self.name}: {self.column} = {value:.4g} back past {self.clear:g}",
                        "info",
                        {"rule": self.name, "column": self.column, "value": value},
                    )
                )
        return out


@dataclass
class OutputPlan:
    """The outputs of one pipeline, ready to turn frames into records."""

    pipeline: str
    asset: str
    store_columns: dict[str, SignalRef] = field(default_factory=dict)
    bus: list[tuple[str, dict[str, SignalRef]]] = field(default_factory=list)
    alerts: list[AlertOutput] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    version: str | None = None
    """The fit whose outputs these are; part of each record's provenance."""

    @property
    def refs(self) -> list[SignalRef]:
        """Every derived signal the plan writes to the store (columns and alerts)."""
        return [*self.store_columns.values(), *(a.signal for a in self.alerts)]

    def provenance(self) -> Provenance:
        """``pipeline:<name>``, address ``<name>@<fit version>`` (or the name unfitted)."""
        address = f"{self.pipeline}@{self.version}" if self.version else self.pipeline
        return Provenance(f"pipeline:{self.pipeline}", address)

    def records(self, frame: FeatureFrame) -> tuple[list[Record], list[tuple[str, Record]]]:
        """(records for the store, (topic, record) pairs for the bus) of a frame."""
        provenance = self.provenance()
        for alert in self.alerts:
            alert.provenance = provenance
        stored: list[Record] = []
        for column, ref in self.store_columns.items():
            stored.append(ScalarBatch.of(ref, frame.t0_ns, frame.columns[column], provenance))
        published: list[tuple[str, Record]] = []
        for topic, columns in self.bus:
            for column, ref in columns.items():
                published.append(
                    (topic, ScalarBatch.of(ref, frame.t0_ns, frame.columns[column], provenance))
                )
        for alert in self.alerts:
            stored.extend(alert.evaluate(frame))
        return stored, published


def build_outputs(
    name: str,
    asset: str,
    outputs: list[OutputConfig],
    columns: dict[str, str],
    *,
    hop_ns: int | None = None,
) -> OutputPlan:
    """Check the outputs against the pipeline's columns and plan the derived signals.

    ``hop_ns`` (the pipeline's :attr:`~shopfloor.pipelines.Pipeline.hop_ns`) tells the
    alerts which windows are consecutive; without it they learn it from the windows.
    """
    plan = OutputPlan(name, asset)
    defined: dict[str, Signal] = {}

    def derived(signal_name: str, unit: str, kind: SignalKind = SignalKind.SCALAR) -> SignalRef:
        try:
            validate_segment(signal_name, what="derived signal name")
        except ValueError as err:
            raise PipelineConfigError(f"pipeline {name!r}: {err}") from err
        if signal_name not in defined:
            defined[signal_name] = Signal(
                name=signal_name,
                kind=kind,
                unit=unit,
                allow_nan=True,
                description=f"computed by pipeline {name!r}",
            )
        return SignalRef(asset, signal_name)

    for output in outputs:
        params: dict[str, Any] = dict(output.params)
        if output.kind == "store":
            prefix = str(params.get("prefix", f"{name}."))
            for column in _select(columns, params.get("columns")):
                unit = columns[column] or DIMENSIONLESS
                plan.store_columns[column] = derived(prefix + column, unit)
        elif output.kind == "bus":
            topic = params.get("topic")
            if not topic:
                raise PipelineConfigError(f"pipeline {name!r}: a bus output needs a topic")
            prefix = str(params.get("prefix", f"{name}."))
            selected = {
                c: SignalRef(asset, prefix + c) for c in _select(columns, params.get("columns"))
            }
            plan.bus.append((str(topic), selected))
        else:
            column = str(params.get("column"))
            if column not in columns:
                raise PipelineConfigError(
                    f"pipeline {name!r}: alert column {column!r} is not one of {', '.join(columns)}"
                )
            above: Any = params.get("above")
            below: Any = params.get("below")
            if (above is None) == (below is None):
                raise PipelineConfigError(f"pipeline {name!r}: an alert needs 'above' or 'below'")
            threshold = float(above if above is not None else below)  # one of them is set
            hysteresis = float(params.get("hysteresis", 0.0))
            clear = threshold - hysteresis if above is not None else threshold + hysteresis
            signal = derived(str(params.get("signal", f"{name}.alert")), "", SignalKind.EVENT)
            plan.alerts.append(
                AlertOutput(
                    column=str(column),
                    signal=signal,
                    above=None if above is None else float(above),
                    below=None if below is None else float(below),
                    clear=clear,
                    for_s=float(params.get("for_s", 0.0)),
                    clear_for_s=float(params.get("clear_for_s", params.get("for_s", 0.0))),
                    severity=str(params.get("severity", "warning")),
                    name=str(params.get("name", f"{name}.{column}")),
                    provenance=Provenance(f"pipeline:{name}", name),
                    hop_ns=hop_ns,
                )
            )
    plan.signals = list(defined.values())
    return plan
