"""One deployment of an image classifier: images in, one class per image out.

An :class:`ImageScorer` runs in a scoring worker thread, never on the event loop. For
each image after the last one it scored it writes, stamped at the image's time and with
provenance ``deployment:<name>`` (``shadow:<name>`` in shadow mode), address
``model@version``:

- ``<name>.class``: the class code, the index of the class in the model's classes
  (``-1``: uncertain, the model's confidence was below its ``min_confidence``);
- ``<name>.confidence``: the probability of its most probable class (0..1);
- ``<name>.latency_ms``: how long decoding, preprocessing and inference took;
- ``<name>.state``: ``0`` (normal) for a good part, ``2`` (alarm) for a defective one,
  ``1`` (warning) for an uncertain one (manual review), NaN when the image could not be
  classified (:data:`~shopfloor.runtime.deployments.STATE_CODES`);
- ``<name>.events``: one ``classified`` event per image, carrying the class name, its
  confidence, the outcome (``good``, ``defective``, ``uncertain``), the part id and the
  file of the image (so a reject gate and a person reviewing know which part it was);
  one ``deployed`` event where a new version takes over.

Each image is classified on its own (:func:`~shopfloor.ml.images.classify_encoded`, with
the model's stored preprocessing), so its latency is its own and one bad image fails
alone. A part is *good* when its class is :data:`~shopfloor.ml.base.GOOD` (``good``),
*defective* otherwise. An image that cannot be classified (a corrupt file, a model error)
gets a NaN state and an ``unclassified`` event, and its bytes go to the dead letters: it
is counted in :meth:`ImageScorer.health`, never retried forever and never in the way of
the next image.

Images taken at or before :attr:`ImageScorer.last_t0_ns` are never scored again: a swap
hands the new scorer the old one's last image, a restart the last stored one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shopfloor.errors import ImageRejected
from shopfloor.ml.base import GOOD, UNCERTAIN
from shopfloor.ml.images import classify_encoded
from shopfloor.model import (
    DeadLetter,
    EventRecord,
    ImageRecord,
    Provenance,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
)
from shopfloor.model.deployment import IMAGE_OUTPUTS, source_of
from shopfloor.model.imaging import LETTER_PAYLOAD_BYTES

if TYPE_CHECKING:
    from shopfloor.ml.registry import ModelCard
    from shopfloor.runtime.deployments.catalog import ImageRunnable

__all__ = [
    "IMAGE_TASKS",
    "UNCERTAIN_CODE",
    "ImageScorer",
    "image_deployment_signals",
    "is_image_model",
    "outcome_of",
]

IMAGE_TASKS = ("image_classification", "image_anomaly")
"""The tasks of models that take images (:class:`~shopfloor.ml.base.ImageModel`)."""

UNCERTAIN_CODE = -1.0
"""The ``<name>.class`` code of an uncertain image."""

_STATE = {"good": 0.0, "uncertain": 1.0, "defective": 2.0}
_SEVERITY = {"good": "info", "uncertain": "warning", "defective": "warning"}


def is_image_model(card: ModelCard) -> bool:
    """Whether the model of ``card`` classifies images (its input is images, not features)."""
    return card.task in IMAGE_TASKS


def image_deployment_signals(name: str) -> list[Signal]:
    """The derived signals an image deployment ``name`` writes on its asset."""
    described = f"written by deployment {name!r} for each image"
    units = {"class": "", "confidence": "", "latency_ms": "ms", "state": ""}
    notes = {
        "class": " (class code: index in the model's classes, -1 uncertain)",
        "state": " (0 good, 1 uncertain, 2 defective)",
    }
    return [
        *(
            Signal(
                name=f"{name}.{o}",
                unit=units[o],
                allow_nan=True,
                description=described + notes.get(o, ""),
            )
            for o in IMAGE_OUTPUTS
        ),
        Signal(name=f"{name}.events", kind=SignalKind.EVENT, description=described),
    ]


def outcome_of(label: str) -> str:
    """``good``, ``defective`` or ``uncertain`` for a class name (or ``uncertain``)."""
    if label == UNCERTAIN:
        return UNCERTAIN
    return "good" if label == GOOD else "defective"


class ImageScorer:
    """Classifies one deployment's images (in a worker thread; one call at a time).

    Parameters
    ----------
    runnable
        The loaded deployment.
    last_t0_ns
        Images taken at or before this were scored already (``None``: none were).
    replaces
        The version this one takes over from (its first image gets a ``deployed`` event).
    """

    def __init__(
        self,
        runnable: ImageRunnable,
        *,
        last_t0_ns: int | None = None,
        replaces: str | None = None,
    ) -> None:
        self.runnable = runnable
        d = runnable.deployment
        self.deployment = d
        self.model = runnable.model
        self.classes = list(self.model.classes_)
        self.last_t0_ns = last_t0_ns
        self.provenance = Provenance(source_of(d.name, d.mode), d.ref)
        self.refs = {o: SignalRef(d.asset, d.signal_name(o)) for o in (*IMAGE_OUTPUTS, "events")}
        self._announce = replaces
        self.state = "normal"
        self.windows = 0
        self.state_changes = 0
        self.outcomes = {"good": 0, "defective": 0, "uncertain": 0, "failed": 0}
        self.last_error: str | None = None
        self.last_latency_ms: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(name, asset)`` of the deployment."""
        return self.deployment.key

    def score(self, images: Sequence[ImageRecord]) -> tuple[list[Record], list[DeadLetter]]:
        """The records of the images not scored yet, and the dead letters of those that failed.

        Images are taken in time order; one that fails is recorded as such and the rest
        are scored.
        """
        todo = sorted(
            (i for i in images if self.last_t0_ns is None or i.ts_ns > self.last_t0_ns),
            key=lambda i: i.ts_ns,
        )
        if not todo:
            return [], []
        n = len(todo)
        ts = np.array([i.ts_ns for i in todo], dtype=np.int64)
        codes = np.full(n, np.nan)
        confidence = np.full(n, np.nan)
        latency = np.full(n, np.nan)
        states = np.full(n, np.nan)
        events: list[Record] = self._announced(int(ts[0]))
        letters: list[DeadLetter] = []
        for k, image in enumerate(todo):
            name = image.attributes.get("source_file") or f"{image.signal.path}@{image.ts_ns}"
            started = time.perf_counter()
            try:
                ((label, p, _),) = classify_encoded(self.model, [image.data], names=[name])
            except Exception as err:  # a plug-in's failure (a user's ONNX graph): this image's
                # outcome, never the end of the deployment
                latency[k] = 1000.0 * (time.perf_counter() - started)
                events.append(self._failed(image, name, err))
                letters.append(self._letter(image, name, err))
                continue
            latency[k] = 1000.0 * (time.perf_counter() - started)
            outcome = outcome_of(label)
            codes[k] = UNCERTAIN_CODE if label == UNCERTAIN else float(self.classes.index(label))
            confidence[k] = p
            states[k] = _STATE[outcome]
            self.outcomes[outcome] += 1
            events.append(self._classified(image, name, label, p, outcome))
        self.last_t0_ns = int(ts[-1])
        self.windows += n
        self.last_latency_ms = float(latency[-1])
        self.state = self._state_name(float(states[-1]))
        prov = self.provenance
        records: list[Record] = [
            ScalarBatch.of(self.refs["class"], ts, codes, prov),
            ScalarBatch.of(self.refs["confidence"], ts, confidence, prov),
            ScalarBatch.of(self.refs["latency_ms"], ts, latency, prov),
            *events,
            # last: a stored state means the image's other records were stored before it
            # (the runtime resumes after the last stored state)
            ScalarBatch.of(self.refs["state"], ts, states, prov),
        ]
        return records, letters

    @staticmethod
    def _state_name(code: float) -> str:
        if not math.isfinite(code):
            return "unknown"
        return {0.0: "normal", 1.0: "warning", 2.0: "alarm"}[code]

    def _announced(self, t_ns: int) -> list[Record]:
        if self._announce is None:
            return []
        d = self.deployment
        event = EventRecord(
            self.refs["events"],
            t_ns,
            "deployed",
            self.provenance,
            f"{d.name}: {d.ref} classifies from this image on ({d.mode}; was {self._announce})",
            "info",
            {"from": self._announce, "to": d.ref, "mode": d.mode},
        )
        self._announce = None
        return [event]

    def _classified(
        self, image: ImageRecord, name: str, label: str, p: float, outcome: str
    ) -> EventRecord:
        d = self.deployment
        part = image.attributes.get("part_id")
        what = f"part {part}" if part else name
        review = " (to manual review)" if outcome == UNCERTAIN else ""
        return EventRecord(
            self.refs["events"],
            image.ts_ns,
            "classified",
            self.provenance,
            f"{what}: {label} ({p:.3f}){review}",
            _SEVERITY[outcome],
            {
                "class": label,
                "confidence": p,
                "outcome": outcome,
                "model": d.ref,
                "mode": d.mode,
                **{k: v for k, v in image.attributes.items() if k in ("part_id", "source_file")},
            },
        )

    def _failed(self, image: ImageRecord, name: str, err: Exception) -> EventRecord:
        self.outcomes["failed"] += 1
        self.last_error = f"{type(err).__name__}: {err}"
        return EventRecord(
            self.refs["events"],
            image.ts_ns,
            "unclassified",
            self.provenance,
            f"{name} could not be classified by {self.deployment.ref}: {err}",
            "warning",
            {"error": type(err).__name__, "model": self.deployment.ref, **image.attributes},
        )

    def _letter(self, image: ImageRecord, name: str, err: Exception) -> DeadLetter:
        category = err.category if isinstance(err, ImageRejected) else "deployment_error"
        data = image.data
        return DeadLetter(
            source=f"deployment:{self.deployment.name}",
            location=name,
            reason=f"{self.deployment.ref} on {image.signal.path!r} could not classify {name}: "
            f"{err}",
            payload=data if len(data) <= LETTER_PAYLOAD_BYTES else b"",
            detail={
                "category": category,
                "signal": image.signal.path,
                "ts_ns": image.ts_ns,
                "bytes": len(data),
                **image.attributes,
            },
        )

    def health(self) -> dict[str, Any]:
        """Images classified per outcome, the last error and the last latency."""
        return {
            **self.outcomes,
            "last_latency_ms": self.last_latency_ms,
            "last_error": self.last_error,
        }
