"""``DuckDBStore``: the embedded default store, a thin facade over its jobs.

Like Home Assistant's recorder, the store is split by job: :mod:`.schema` (tables and
version), :mod:`.database` (the file, its threads, read-only and spilling), :mod:`.catalog`
(signals and provenances), :mod:`.writes`, :mod:`.reads` and :mod:`.housekeeping`
(retention and statistics). This class only wires them behind the
:class:`~shopfloor.store.protocol.Store` protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shopfloor.errors import StoreError, StoreFailed, StoreUnavailable
from shopfloor.model.timestamps import now_ns
from shopfloor.store.config import StoreConfig
from shopfloor.store.duckdb import housekeeping
from shopfloor.store.duckdb.database import Database
from shopfloor.store.protocol import SignalInfo, StoreStats

# Writes, reads and record validation (numpy, pyarrow) are imported when first used, so
# that opening a store for its statistics (``shopfloor status``) imports only DuckDB.
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
        RecordValidator,
        Signal,
        SignalRef,
        WaveformBlock,
        WriteReport,
    )
    from shopfloor.model.deployment import Deployment, DeploymentChange
    from shopfloor.store.duckdb.reads import Reads

__all__ = ["DuckDBStore"]

log = logging.getLogger(__name__)


class DuckDBStore:
    """The embedded default :class:`~shopfloor.store.protocol.Store`, in one DuckDB file.

    Parameters
    ----------
    path
        The database file (created with its folder when missing); ``":memory:"`` for a
        throw-away store.
    config
        Store settings (limits, memory, threads).
    clock
        Returns now in UTC nanoseconds; tests pin it.
    read_only
        ``None`` (default) opens read-only when the file or its folder is not writable;
        ``True`` always; ``False`` never. A read-only store reads, and refuses writes with
        :class:`~shopfloor.errors.StoreReadOnly`.

    Examples
    --------
    >>> import asyncio
    >>> from shopfloor.model import Signal
    >>> async def demo() -> int:
    ...     store = DuckDBStore(":memory:")
    ...     await store.open()
    ...     infos = await store.register_signals(
    ...         "acme/p1/machining/l1/c1/cnc-01", [Signal(name="spindle_speed", unit="rpm")])
    ...     await store.close()
    ...     return len(infos)
    >>> asyncio.run(demo())
    1
    """

    def __init__(
        self,
        path: str | Path,
        config: StoreConfig | None = None,
        *,
        clock: Callable[[], int] = now_ns,
        read_only: bool | None = None,
    ) -> None:
        self.path = str(path)
        self.config = config or StoreConfig()
        self._clock = clock
        self._db = Database(self.path, self.config, read_only)

    @cached_property
    def _validator(self) -> RecordValidator:
        from shopfloor.model.validation import RecordValidator

        return RecordValidator(self._db.catalog.definition, self.config.limits, self._clock)

    @cached_property
    def _reads(self) -> Reads:
        from shopfloor.store.duckdb.reads import Reads

        return Reads(self._db)

    @property
    def read_only(self) -> bool:
        """True when the store was opened read-only."""
        return self._db.read_only

    async def open(self) -> None:
        """Open the file (creating it and its folder), create or check the schema."""
        await self._db.open()

    async def close(self) -> None:
        """Checkpoint and close; safe to call twice."""
        await self._db.close()

    async def reopen(self) -> None:
        """Close (whatever the state of the file) and open again, e.g. after a full disk.

        Raises
        ------
        StoreFailed
            When the store still cannot be opened (the disk is still full).
        """
        try:
            await self.close()
        except Exception as err:  # an invalidated database fails its last checkpoint
            log.debug("store.close_failed path=%s error=%s", self.path, err)
        try:
            await self.open()
        except StoreFailed:
            raise
        except (StoreError, OSError) as err:
            raise StoreFailed(
                f"cannot reopen the store {self.path}: {err}", reason=f"cannot reopen {self.path}"
            ) from err

    async def __aenter__(self) -> DuckDBStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- signals ------------------------------------------------------------------------

    async def register_signals(self, asset: str, signals: Sequence[Signal]) -> list[SignalInfo]:
        """Create or update signal definitions; a kind change of a stored signal is refused.

        A read-only store accepts definitions it already holds unchanged.
        """
        if not self._db.is_open:
            raise StoreUnavailable(f"store {self.path} is not open")
        catalog, wanted = self._db.catalog, list(signals)
        if self._db.read_only:
            return catalog.register(None, asset, wanted, self._clock, read_only=True)
        return await self._db.run_write(
            lambda con: catalog.register(con, asset, wanted, self._clock, read_only=False),
            "register signals",
        )

    async def signals(self) -> list[SignalInfo]:
        """Every signal the store knows, ordered by asset and name."""
        if not self._db.is_open:
            raise StoreUnavailable(f"store {self.path} is not open")
        return sorted(self._db.catalog.signals.values(), key=lambda i: (i.ref.asset, i.ref.name))

    # -- writes -------------------------------------------------------------------------

    async def write(self, records: Sequence[Record]) -> WriteReport:
        """Validate and write, all or nothing; see :mod:`.writes` for the idempotency rules."""
        from shopfloor.model.validation import WriteReport
        from shopfloor.store.duckdb.writes import write_records

        if not records:
            return WriteReport()
        batch, validator = list(records), self._validator
        return await self._db.run_write(
            lambda con: write_records(con, self._db.catalog, validator, batch, self._clock)
        )

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Append dead letters."""
        from shopfloor.store.duckdb.writes import insert_dead_letters

        if letters:
            batch = list(letters)
            await self._db.run_write(
                lambda con: insert_dead_letters(con, batch), "write dead letters"
            )

    # -- reads --------------------------------------------------------------------------

    async def read_scalars(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> pa.Table:
        """Samples in ``[start_ns, end_ns)``, oldest first."""
        return await self._reads.read_scalars(ref, start_ns, end_ns, limit=limit)

    async def read_scalars_downsampled(
        self, ref: SignalRef, start_ns: int, end_ns: int, every_ns: int
    ) -> pa.Table:
        """min/max/mean/count per bucket of ``every_ns``, buckets aligned to the epoch."""
        return await self._reads.read_scalars_downsampled(ref, start_ns, end_ns, every_ns)

    async def read_waveforms(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[WaveformBlock]:
        """Blocks starting in ``[start_ns, end_ns)``, oldest first."""
        return await self._reads.read_waveforms(ref, start_ns, end_ns, limit=limit)

    async def read_images(
        self, ref: SignalRef, start_ns: int, end_ns: int, *, limit: int | None = None
    ) -> list[ImageRecord]:
        """Images in ``[start_ns, end_ns)``, oldest first."""
        return await self._reads.read_images(ref, start_ns, end_ns, limit=limit)

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
        """Events in ``[start_ns, end_ns)``, oldest first."""
        return await self._reads.read_events(
            start_ns, end_ns, ref=ref, asset=asset, kind=kind, limit=limit
        )

    async def read_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        """Dead letters, newest first."""
        return await self._reads.read_dead_letters(since_ns=since_ns, source=source, limit=limit)

    async def count_dead_letters(
        self, *, since_ns: int | None = None, source: str | None = None
    ) -> int:
        """How many dead letters match."""
        return await self._reads.count_dead_letters(since_ns=since_ns, source=source)

    async def time_range(self, ref: SignalRef) -> tuple[int, int] | None:
        """First and last timestamp stored for ``ref``."""
        return await self._reads.time_range(ref)

    async def count(
        self, ref: SignalRef, start_ns: int | None = None, end_ns: int | None = None
    ) -> int:
        """Number of values stored for ``ref`` (optionally in a range)."""
        return await self._reads.count(ref, start_ns, end_ns)

    # -- housekeeping ---------------------------------------------------------------------

    async def apply_retention(self, now_ns: int | None = None) -> dict[str, int]:
        """Delete data older than each signal's ``retention_days`` and old dead letters."""
        return await housekeeping.apply_retention(
            self._db, self._clock() if now_ns is None else now_ns
        )

    async def delete_range(self, ref: SignalRef, start_ns: int, end_ns: int) -> int:
        """Delete the values of ``ref`` in ``[start_ns, end_ns)``; return how many.

        For replacing derived outputs (``shopfloor pipelines run --rescore``), never raw data.
        """
        return await housekeeping.delete_range(self._db, ref, start_ns, end_ns)

    async def stats(self) -> StoreStats:
        """Row counts per table and the file size."""
        return await housekeeping.stats(self._db)

    # -- labels ---------------------------------------------------------------------------

    async def add_annotation(self, annotation: Annotation) -> Annotation:
        """Keep a labelled time range; return it with its id."""
        from shopfloor.store.duckdb import labels

        return await labels.add(self._db, annotation)

    async def list_annotations(
        self,
        *,
        asset: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        label: str | None = None,
    ) -> list[Annotation]:
        """Labels of ``asset`` (or below it) overlapping the range, oldest start first."""
        from shopfloor.store.duckdb import labels

        return await labels.select(
            self._db, asset=asset, start_ns=start_ns, end_ns=end_ns, label=label
        )

    async def delete_annotation(self, annotation_id: int) -> bool:
        """Delete one label; ``False`` when there was none with that id."""
        from shopfloor.store.duckdb import labels

        return await labels.delete(self._db, annotation_id)

    # -- alerts ---------------------------------------------------------------------------

    async def save_alert(self, alert: Alert, changes: Sequence[AlertChange]) -> Alert:
        """Keep ``alert`` with its changes in one transaction; return it with its id."""
        from shopfloor.store.duckdb import alerts

        return await alerts.save(self._db, alert, changes)

    async def get_alert(self, alert_id: int) -> Alert | None:
        """Alert ``alert_id``, or ``None``."""
        from shopfloor.store.duckdb import alerts

        return await alerts.get(self._db, alert_id)

    async def list_alerts(
        self,
        *,
        states: Sequence[AlertState] | None = None,
        asset: str | None = None,
        rule: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts newest first, filtered by state, asset (and below) and rule."""
        from shopfloor.store.duckdb import alerts

        return await alerts.select(self._db, states=states, asset=asset, rule=rule, limit=limit)

    async def alert_history(self, alert_id: int) -> list[AlertChange]:
        """Every change of alert ``alert_id``, oldest first."""
        from shopfloor.store.duckdb import alerts

        return await alerts.changes(self._db, alert_id)

    # -- deployments ----------------------------------------------------------------------

    async def save_deployment(self, deployment: Deployment, change: DeploymentChange) -> None:
        """Keep ``deployment`` and log ``change`` in one transaction."""
        from shopfloor.store.duckdb import deployments

        await deployments.save(self._db, deployment, change)

    async def list_deployments(
        self, *, name: str | None = None, asset: str | None = None
    ) -> list[Deployment]:
        """Deployments (running and stopped), by name then asset."""
        from shopfloor.store.duckdb import deployments

        return await deployments.select(self._db, name=name, asset=asset)

    async def deployment_log(
        self, *, name: str | None = None, asset: str | None = None, limit: int | None = None
    ) -> list[DeploymentChange]:
        """The deployments' audit log, newest first."""
        from shopfloor.store.duckdb import deployments

        return await deployments.log(self._db, name=name, asset=asset, limit=limit)
