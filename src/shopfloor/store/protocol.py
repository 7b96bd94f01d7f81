"""The one seam every store backend implements.

Callers (connectors, pipelines, the API, the CLI) speak only this protocol; the embedded
DuckDB backend is the default and a PostgreSQL backend can be added beside it without
touching them. ``shopfloor.testing.check_store`` is the contract every backend passes.

Semantics every backend keeps:

- **Idempotent writes**: one row per (signal, timestamp) for scalars, waveforms and
  images, per (signal, timestamp, kind) for events. The first write wins; a repeated
  write of the same data counts as a duplicate, a repeated write of *different* data
  (value, samples, image bytes, event message or attributes) is a conflict and goes to
  the dead letters.
- **All or nothing**: a write that fails (full disk, memory) leaves nothing of its batch
  and raises :class:`~shopfloor.errors.StoreFailed`, which a bad record never raises.
- **Nothing silently lost**: every value offered is written, counted as a duplicate, or
  dead-lettered with a reason (unknown signal, NaN, out of range, timestamp out of range,
  wrong kind, oversized payload).
- Times are UTC nanoseconds; ranges are half-open ``[start_ns, end_ns)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shopfloor.exports import lazy_exports

# The records and Arrow types are only named in signatures: reading a store's statistics
# (``shopfloor status``) imports neither numpy nor pyarrow through this module.
if TYPE_CHECKING:
    import pyarrow as pa

    from shopfloor.model import (
        Alert,
        AlertChange,
        AlertState,
        Annotation,
        DeadLetter,
        EventRecord,
        ImageRecord,
        Record,
        Signal,
        SignalKind,
        SignalRef,
        WaveformBlock,
    )
    from shopfloor.model.deployment import Deployment, DeploymentChange
    from shopfloor.model.validation import WriteReport
else:
    __getattr__, __dir__ = lazy_exports(__name__, {"shopfloor.model.validation": ("WriteReport",)})

__all__ = [
    "AlertStore",
    "AnnotationStore",
    "DeletingStore",
    "DeploymentStore",
    "SignalInfo",
    "Store",
    "StoreStats",
    "WriteReport",
]


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """A signal as the store knows it: its definition and its numeric id."""

    ref: SignalRef
    id: int
    definition: Signal

    @property
    def kind(self) -> SignalKind:
        """The signal's kind."""
        return self.definition.kind


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Row counts per table and the size on disk (0 when not applicable)."""

    rows: dict[str, int]
    size_bytes: int
    location: str


@runtime_checkable
class Store(Protocol):
    """Where records are kept. All methods are coroutines; none blocks the event loop."""

    async def open(self) -> None:
        """Open (and create or migrate) the store."""

    async def close(self) -> None:
        """Flush and close; safe to call twice and under cancellation."""

    async def register_signals(self, asset: str, signals: Sequence[Signal]) -> list[SignalInfo]:
        """Create or update the definitions of ``signals`` of ``asset``."""

    async def signals(self) -> list[SignalInfo]:
        """Every signal the store knows."""

    async def write(self, records: Sequence[Record]) -> WriteReport:
        """Validate and write ``records``; rejected values go to the dead letters."""

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep rejected input with its reason."""

    async def read_scalars(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> pa.Table:
        """Samples in ``[start_ns, end_ns)``, oldest first.

        Columns: ``ts`` (timestamp[ns, UTC]), ``value`` (float64), ``quality`` (uint8),
        ``status_code`` (uint32).
        """

    async def read_scalars_downsampled(
        self, ref: SignalRef, start_ns: int, end_ns: int, every_ns: int
    ) -> pa.Table:
        """One row per bucket of ``every_ns``; empty buckets are absent.

        Columns: ``ts`` (bucket start), ``min``, ``max``, ``mean``, ``count``.
        """

    async def read_waveforms(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[WaveformBlock]:
        """Blocks whose first sample lies in ``[start_ns, end_ns)``, oldest first."""

    async def read_images(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[ImageRecord]:
        """Images taken in ``[start_ns, end_ns)``, oldest first."""

    async def read_events(
        self,
        start_ns: int,
        end_ns: int,
        *,
        ref: SignalRef | None = None,
        asset: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events in ``[start_ns, end_ns)``, oldest first, optionally filtered."""

    async def read_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        """Dead letters, newest first (the most recent ``limit``)."""

    async def count_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None
    ) -> int:
        """How many dead letters match."""

    async def time_range(self, ref: SignalRef) -> tuple[int, int] | None:
        """First and last timestamp stored for ``ref``, or ``None`` when it has no data."""

    async def count(
        self, ref: SignalRef, start_ns: int | None = None, end_ns: int | None = None
    ) -> int:
        """Number of values (samples, blocks, images or events) stored for ``ref``."""

    async def apply_retention(self, now_ns: int | None = None) -> dict[str, int]:
        """Delete data older than each signal's retention; return rows deleted per signal."""

    async def stats(self) -> StoreStats:
        """Row counts and size."""


@runtime_checkable
class DeletingStore(Protocol):
    """A store that can also delete a range of one signal: an optional ability.

    For replacing derived outputs (``shopfloor pipelines run --rescore``), never raw
    data. The embedded store and :class:`~shopfloor.store.remote.RemoteStore` (over the
    API's ``DELETE /api/v1/values``) have it; check with ``isinstance``.
    """

    async def delete_range(self, ref: SignalRef, start_ns: int, end_ns: int) -> int:
        """Delete the values of ``ref`` in ``[start_ns, end_ns)``; return how many.

        Raises
        ------
        UnknownSignal
            When ``ref`` is not declared.
        """
        ...


@runtime_checkable
class AnnotationStore(Protocol):
    """A store that keeps labels (time-range annotations): an optional ability.

    Labels are a person's word on a time range of an asset or of one of its signals
    (``healthy``, ``ignore``, ``fault:<type>``); datasets join them to their windows. The
    embedded store keeps them in its own table; over HTTP they are not served yet
    (:class:`~shopfloor.store.remote.RemoteStore` raises ``StoreError`` saying so).
    """

    async def add_annotation(self, annotation: Annotation) -> Annotation:
        """Keep ``annotation``; return it with the id the store gave it."""
        ...

    async def list_annotations(
        self,
        *,
        asset: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        label: str | None = None,
    ) -> list[Annotation]:
        """Annotations overlapping ``[start_ns, end_ns)``, oldest start first.

        ``asset`` keeps those of that asset and the assets below it; each filter left
        ``None`` keeps all.
        """
        ...

    async def delete_annotation(self, annotation_id: int) -> bool:
        """Delete one annotation; ``False`` when there was none with that id."""
        ...


@runtime_checkable
class AlertStore(Protocol):
    """A store that keeps alerts and their history: an optional ability.

    An alert is kept with the change that made it, in one step, so its history never
    misses a state (:mod:`shopfloor.model.alert`). The embedded store keeps them in its
    own tables; over HTTP they are not served yet
    (:class:`~shopfloor.store.remote.RemoteStore` raises ``StoreError`` saying so).
    """

    async def save_alert(self, alert: Alert, changes: Sequence[AlertChange]) -> Alert:
        """Keep ``alert`` (new when its id is ``None``) and append ``changes`` to its history.

        Returns the alert with its id.
        """
        ...

    async def get_alert(self, alert_id: int) -> Alert | None:
        """Alert ``alert_id``, or ``None`` when there is none."""
        ...

    async def list_alerts(
        self,
        *,
        states: Sequence[AlertState] | None = None,
        asset: str | None = None,
        rule: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts newest first; ``asset`` keeps those of that asset and below it."""
        ...

    async def alert_history(self, alert_id: int) -> list[AlertChange]:
        """Every change of alert ``alert_id``, oldest first (empty when there is none)."""
        ...


@runtime_checkable
class DeploymentStore(Protocol):
    """A store that keeps deployments (desired state) and their audit log: an optional ability.

    A deployment is kept with the change that made it, in one step, so the audit log
    never misses one (:mod:`shopfloor.model.deployment`). The running platform reads the
    desired state from here; after a restart the same deployments run again. The
    embedded store keeps them in its own tables; :class:`~shopfloor.store.remote.
    RemoteStore` reaches them over the API (``/api/v1/deployments``).
    """

    async def save_deployment(self, deployment: Deployment, change: DeploymentChange) -> None:
        """Keep ``deployment`` (replacing the one of the same name and asset) and log ``change``."""
        ...

    async def list_deployments(
        self, *, name: str | None = None, asset: str | None = None
    ) -> list[Deployment]:
        """Deployments (running and stopped), by name then asset; each filter ``None`` keeps all."""
        ...

    async def deployment_log(
        self, *, name: str | None = None, asset: str | None = None, limit: int | None = None
    ) -> list[DeploymentChange]:
        """The audit log, newest first."""
        ...
