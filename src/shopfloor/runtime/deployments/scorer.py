"""One deployment on one asset: feature windows in, its derived signals out.

A :class:`Scorer` runs in a scoring worker thread, never on the event loop. For each
window after the last one it scored it writes, stamped at the window's start and with
provenance ``deployment:<name>`` (``shadow:<name>`` in shadow mode), address
``model@version``:

- ``<name>.score``: the model's score (higher is more anomalous; NaN unknown);
- ``<name>.health_index``: 0–100 (:func:`~shopfloor.ml.calibration.health_index`);
- ``<name>.state``: the calibrated state as a code (:data:`.states.STATE_CODES`: 0 normal,
  1 warning, 2 alarm, NaN unknown), with persistence and hysteresis (:class:`.ScoreStates`);
- ``<name>.events``: an event each time the state changes, and one where a new version
  takes over (``deployed``).

A classifier scores ``1 - P(healthy)`` (the most likely fault's probability when it knows
no ``healthy`` class), its health index is ``100 P(healthy)`` and its state ``alarm``
when the most likely class is a fault, ``normal`` otherwise.

Windows whose start is at or before :attr:`Scorer.last_t0_ns` are never scored again: a
swap hands the new scorer the old one's last window, a restart the last stored one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.ml.base import AnomalyModel, Classifier
from shopfloor.ml.calibration import Thresholds, health_index
from shopfloor.model import (
    EventRecord,
    Provenance,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
)
from shopfloor.model.deployment import OUTPUTS, source_of
from shopfloor.pipelines import FeatureFrame
from shopfloor.runtime.deployments.catalog import Runnable
from shopfloor.runtime.deployments.states import ScoreStates, state_code

__all__ = ["OUTPUTS", "Scorer", "deployment_signals"]

_PERSISTENCE = {"k": 3, "n": 5}
_SEVERITY = {"alarm": "alarm", "warning": "warning", "unknown": "warning", "normal": "info"}


def deployment_signals(name: str) -> list[Signal]:
    """The derived signals deployment ``name`` writes on its asset."""
    described = f"written by deployment {name!r}"
    units = {"score": "1", "health_index": "%", "state": "1"}
    return [
        *(
            Signal(name=f"{name}.{o}", unit=units[o], allow_nan=True, description=described)
            for o in OUTPUTS
        ),
        Signal(name=f"{name}.events", kind=SignalKind.EVENT, description=described),
    ]


class Scorer:
    """Scores one deployment's windows (in a worker thread; one call at a time).

    Parameters
    ----------
    runnable
        The loaded deployment.
    last_t0_ns
        Windows starting at or before this were scored already (``None``: none were).
    replaces
        The version this one takes over from (its first window gets a ``deployed`` event).
    """

    def __init__(
        self, runnable: Runnable, *, last_t0_ns: int | None = None, replaces: str | None = None
    ) -> None:
        self.runnable = runnable
        d = runnable.deployment
        self.deployment = d
        self.model = runnable.model
        card = runnable.version.card
        self.feature_names = card.feature_names
        self.last_t0_ns = last_t0_ns
        self.provenance = Provenance(source_of(d.name, d.mode), d.ref)
        self.refs = {o: SignalRef(d.asset, d.signal_name(o)) for o in (*OUTPUTS, "events")}
        self.thresholds: Thresholds | None = None
        self.states: ScoreStates | None = None
        calibration = card.calibration
        if isinstance(self.model, AnomalyModel):
            persistence = calibration.get("persistence", _PERSISTENCE)
            self.thresholds = Thresholds.from_dict(calibration["thresholds"])
            self.states = ScoreStates(
                self.thresholds,
                int(calibration.get("hop_ns", runnable.pipeline.hop_ns)),
                k=int(persistence["k"]),
                n=int(persistence["n"]),
            )
        self.state = "normal"
        self._announce = replaces
        self.windows = 0
        self.state_changes = 0

    @property
    def key(self) -> tuple[str, str]:
        """``(name, asset)`` of the deployment."""
        return self.deployment.key

    def seed(self, t0_ns: list[int], scores: list[float], last_state: str) -> None:
        """Resume persistence where a stopped run left off (see :meth:`ScoreStates.seed`)."""
        if self.states is not None and t0_ns:
            self.states.seed(t0_ns, scores, last_state)
        self.state = last_state

    def score(self, frame: FeatureFrame) -> list[Record]:
        """The records of the windows of ``frame`` not scored yet (empty when none)."""
        t0 = frame.t0_ns
        keep = np.ones(len(frame), dtype=bool) if self.last_t0_ns is None else t0 > self.last_t0_ns
        if not keep.any():
            return []
        t0 = t0[keep]
        x = frame.matrix(self.feature_names)[keep]
        regime = [r for r, k in zip(frame.regime, keep, strict=False) if k] or None
        scores, health, states = self._evaluate(x, t0, regime)
        self.last_t0_ns = int(t0[-1])
        self.windows += int(t0.shape[0])
        codes = np.array([state_code(s) for s in states], dtype=np.float64)
        p = self.provenance
        records: list[Record] = [
            ScalarBatch.of(self.refs["score"], t0, scores, p),
            ScalarBatch.of(self.refs["health_index"], t0, health, p),
            ScalarBatch.of(self.refs["state"], t0, codes, p),
        ]
        records += self._events(t0.tolist(), states, scores.tolist())
        return records

    def _evaluate(
        self, x: npt.NDArray[np.float64], t0: npt.NDArray[np.int64], regime: list[Any] | None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str]]:
        names = self.feature_names
        if isinstance(self.model, AnomalyModel):
            assert self.thresholds is not None and self.states is not None
            scores = self.model.score(x, regime=regime, feature_names=names)
            return (
                scores,
                health_index(scores, self.thresholds),
                self.states.run(t0.tolist(), scores),
            )
        assert isinstance(self.model, Classifier)
        proba = self.model.predict_proba(x, feature_names=names)
        classes = list(self.model.classes_)
        if "healthy" in classes:
            healthy = proba[:, classes.index("healthy")]
            scores = 1.0 - healthy
        else:
            healthy = np.full(proba.shape[0], np.nan)
            scores = proba.max(axis=1)
        best = [classes[i] for i in np.argmax(proba, axis=1)]
        states = ["normal" if c == "healthy" else "alarm" for c in best]
        return scores, 100.0 * healthy, states

    def _events(self, t0: list[int], states: list[str], scores: list[float]) -> list[Record]:
        out: list[Record] = []
        d = self.deployment
        if self._announce is not None:
            out.append(
                EventRecord(
                    self.refs["events"],
                    t0[0],
                    "deployed",
                    self.provenance,
                    f"{d.name}: {d.ref} scores from this window on ({d.mode}; was "
                    f"{self._announce})",
                    "info",
                    {"from": self._announce, "to": d.ref, "mode": d.mode},
                )
            )
            self._announce = None
        for t, state, score in zip(t0, states, scores, strict=True):
            if state == self.state:
                continue
            value = f"{score:.4g}" if math.isfinite(score) else "unknown"
            out.append(
                EventRecord(
                    self.refs["events"],
                    t,
                    "state_changed",
                    self.provenance,
                    f"{d.name} ({d.ref}) on {d.asset}: {self.state} → {state} (score {value})",
                    _SEVERITY[state],
                    {"from": self.state, "to": state, "model": d.ref, "mode": d.mode},
                )
            )
            self.state = state
            self.state_changes += 1
        return out
