"""The demo's bookkeeping of use case 2: what the platform did, against the ground truth.

A real line has no ground truth; the simulator does. :func:`reconcile` joins each part's
``classified`` event (its part id, from the image's file name) with the class the
simulator gave it (``camera-labels.csv``) and with what the PLC's reject gate counted,
and gives the figures and checks of :class:`PackagingResult`.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopfloor.model import Alert, EventRecord, SignalRef, now_ns
from shopfloor.services.demo.common import Check, UseCaseOutcome
from shopfloor.store import Store
from shopfloor.store.protocol import AlertStore

if TYPE_CHECKING:
    from shopfloor.sim.packaging.line import PackagingLine
    from shopfloor.sim.packaging.plc import PackagingPlc

__all__ = ["ACCURACY_GOAL", "DEFECT_RULE", "PackagingResult", "reconcile"]

ACCURACY_GOAL = 0.95
"""The share of the simulator's parts the classifier must get right."""
DEFECT_RULE = "carton-defect-rate"
"""The project's defect-rate rule (in :data:`~.packaging.PACKAGING_CONFIG`)."""


@dataclass
class PackagingResult:
    """How use case 2 went, reconciled with the simulator's ground truth."""

    available: bool
    reason: str = ""
    produced: int = 0
    scored: int = 0
    correct: int = 0
    uncertain: int = 0
    classified_defective: int = 0
    rejected: int = 0
    rejected_good: int = 0
    escaped: int = 0
    unknown_rejects: int = 0
    onset_part: int = 0
    onset_ns: int | None = None
    alerts: list[Alert] = field(default_factory=list)
    seen_s: dict[int, float] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    confusion: dict[str, Counter[str]] = field(default_factory=dict)
    ground_truth: Path | None = None

    @property
    def accuracy(self) -> float | None:
        """Parts classified as the simulator made them, of all parts produced."""
        return self.correct / self.produced if self.produced else None

    @property
    def true_alarms(self) -> list[Alert]:
        """Defect-rate alerts at or after the fault's first part."""
        if self.onset_ns is None:
            return []
        return [a for a in self.alerts if a.opened_ns >= self.onset_ns]

    @property
    def false_alarms(self) -> list[Alert]:
        """Defect-rate alerts before the fault (all of them when it never showed)."""
        return [a for a in self.alerts if a not in self.true_alarms]

    def outcome(self) -> UseCaseOutcome:
        """The figures and checks of the summary."""
        title = "use case 2: packaging line (hot folder + Modbus)"
        if not self.available:
            return UseCaseOutcome(title, available=False, reason=self.reason)
        first = self.true_alarms[0] if self.true_alarms else None
        accuracy = self.accuracy or 0.0
        reconciled = (
            self.scored == self.produced
            and self.rejected == self.classified_defective
            and self.unknown_rejects == 0
        )
        return UseCaseOutcome(
            title=title,
            first_alert_wall_s=None if first is None else self.seen_s.get(first.id or 0),
            detection_delay_s=None if first is None else (first.opened_ns - self._onset()) / 1e9,
            false_alarms=len(self.false_alarms),
            accuracy=self.accuracy,
            checks=[
                Check(
                    f"classifier >= {ACCURACY_GOAL:.0%} on the simulator's parts",
                    accuracy >= ACCURACY_GOAL,
                    f"{self.correct}/{self.produced} = {accuracy:.1%} "
                    f"({self.uncertain} uncertain, to manual review)",
                ),
                Check(
                    "rejects reconciled",
                    reconciled,
                    f"{self.scored}/{self.produced} parts classified once; gate fired "
                    f"{self.rejected} times for {self.classified_defective} parts classified "
                    f"defective; {self.unknown_rejects} unknown part ids",
                ),
                Check(
                    "defect-rate alert after the fault",
                    first is not None,
                    "none"
                    if first is None
                    else f"{(first.opened_ns - self._onset()) / 1e9:.1f} s after part "
                    f"{self.onset_part}",
                ),
                Check(
                    "no defect-rate alert before the fault",
                    not self.false_alarms,
                    f"{len(self.false_alarms)} before part {self.onset_part}",
                ),
            ],
        )

    def _onset(self) -> int:
        return self.onset_ns if self.onset_ns is not None else 0

    def details(self) -> list[str]:
        """Counts against the ground truth, one line each."""
        if not self.available:
            return [f"not available: {self.reason}"]
        good_rejects = f"{self.rejected_good} of them good parts"
        lines = [
            f"parts produced (ground truth) {self.produced}, seal fault from part "
            f"{self.onset_part}",
            f"classified                    {self.scored}; {self.correct} as the simulator "
            f"made them, {self.uncertain} uncertain (manual review)",
            f"reject gate                   {self.rejected} rejected ({good_rejects}), "
            f"{self.escaped} defective parts escaped",
        ]
        wrong = {
            truth: {k: v for k, v in got.items() if k != truth}
            for truth, got in sorted(self.confusion.items())
        }
        shown = "; ".join(
            f"{truth} as {', '.join(f'{k} {v}' for k, v in got.items())}"
            for truth, got in wrong.items()
            if got
        )
        lines.append(f"misclassified                 {shown or 'none'}")
        report = self.card.get("report")
        if isinstance(report, dict) and report.get("html"):
            lines.append(f"model report                  {report['html']}")
        if self.ground_truth is not None:
            lines.append(f"ground truth                  {self.ground_truth}")
        return lines


async def reconcile(
    store: Store,
    line: PackagingLine,
    plc: PackagingPlc,
    *,
    labels: Path,
    events: SignalRef,
    onset_part: int,
    start_ns: int,
    seen_s: dict[int, float],
) -> PackagingResult:
    """Every classified part (``events``) against the ground truth (``labels``) and the gate.

    ``onset_part`` is the first part made with the fault, ``start_ns`` when the line
    started, ``seen_s`` when each defect-rate alert (by id) was first seen (wall seconds
    from connecting the line).
    """
    assert isinstance(store, AlertStore)
    with labels.open(encoding="utf-8", newline="") as f:
        truth = {int(row["part_id"]): row["class"] for row in csv.DictReader(f)}
    classified = await store.read_events(start_ns, now_ns(), ref=events, kind="classified")
    by_part: dict[int, EventRecord] = {}
    for event in classified:
        by_part[int(event.attributes["part_id"])] = event
    confusion: dict[str, Counter[str]] = {}
    for part_id, cls in truth.items():
        got = by_part.get(part_id)
        confusion.setdefault(cls, Counter())[
            "missing" if got is None else str(got.attributes["class"])
        ] += 1
    outcomes = Counter(str(e.attributes.get("outcome")) for e in by_part.values())
    onset = by_part.get(onset_part)
    alerts = sorted(await store.list_alerts(rule=DEFECT_RULE), key=lambda a: a.opened_ns)
    counts = line.counts.as_dict()
    return PackagingResult(
        available=True,
        produced=len(truth),
        scored=len(classified),
        correct=sum(got[cls] for cls, got in confusion.items()),
        uncertain=outcomes["uncertain"],
        classified_defective=outcomes["defective"],
        rejected=counts["rejected"],
        rejected_good=counts["rejected_good"],
        escaped=counts["escaped"],
        unknown_rejects=plc.unknown_rejects,
        onset_part=onset_part,
        onset_ns=None if onset is None else onset.ts_ns,
        alerts=alerts,
        seen_s=seen_s,
        confusion=confusion,
        ground_truth=labels,
    )
