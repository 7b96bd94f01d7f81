"""What the store knows about its signals and provenances, cached in memory."""

from __future__ import annotations

import logging
from collections.abc import Callable

import duckdb

from shopfloor.errors import SignalKindMismatch, StoreReadOnly, UnknownSignal
from shopfloor.model import Provenance, Signal, SignalKind, SignalRef
from shopfloor.store.duckdb.schema import first
from shopfloor.store.protocol import SignalInfo

__all__ = ["Catalog"]

log = logging.getLogger(__name__)


class Catalog:
    """Signals and provenances by reference and by numeric id.

    Loaded when the store opens; changed only by the writer thread.
    """

    def __init__(self) -> None:
        self.signals: dict[SignalRef, SignalInfo] = {}
        self.signals_by_id: dict[int, SignalInfo] = {}
        self.provenance: dict[Provenance, int] = {}
        self.provenance_by_id: dict[int, Provenance] = {}
        self._pending: dict[Provenance, int] = {}
        self._pending_by_id: dict[int, Provenance] = {}

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read every signal and provenance of the file (forgetting what was cached)."""
        # after a failed store is reopened, the caches may hold rows of rolled-back writes
        for cache in (
            self.signals,
            self.signals_by_id,
            self.provenance,
            self.provenance_by_id,
            self._pending,
            self._pending_by_id,
        ):
            cache.clear()
        for sid, asset, name, definition in con.execute(
            "SELECT id, asset, name, definition FROM signals"
        ).fetchall():
            self._keep(
                SignalInfo(SignalRef(asset, name), sid, Signal.model_validate_json(definition))
            )
        for pid, connector, address, backfilled in con.execute(
            "SELECT id, connector, address, backfilled FROM provenance"
        ).fetchall():
            prov = Provenance(connector, address, backfilled)
            self.provenance[prov] = pid
            self.provenance_by_id[pid] = prov

    def _keep(self, info: SignalInfo) -> None:
        self.signals[info.ref] = info
        self.signals_by_id[info.id] = info

    def definition(self, ref: SignalRef) -> Signal | None:
        """The declared signal of ``ref`` (the validator's lookup)."""
        info = self.signals.get(ref)
        return None if info is None else info.definition

    def info(self, ref: SignalRef, kind: SignalKind | None = None) -> SignalInfo:
        """The signal of ``ref``.

        Raises
        ------
        UnknownSignal
            When the store does not know ``ref``.
        SignalKindMismatch
            When ``kind`` is given and the signal has another one.
        """
        info = self.signals.get(ref)
        if info is None:
            raise UnknownSignal(f"unknown signal {ref.path!r}")
        if kind is not None and info.kind != kind:
            raise SignalKindMismatch(f"signal {ref.path!r} is a {info.kind} signal, not {kind}")
        return info

    def register(
        self,
        con: duckdb.DuckDBPyConnection | None,
        asset: str,
        signals: list[Signal],
        clock: Callable[[], int],
        *,
        read_only: bool,
    ) -> list[SignalInfo]:
        """Create or update the definitions of ``signals`` of ``asset``.

        With ``read_only`` (and no connection) only definitions already held unchanged are
        accepted; any other raises :class:`StoreReadOnly`.
        """
        out = []
        for signal in signals:
            ref = SignalRef.checked(asset, signal.name)
            existing = self.signals.get(ref)
            if existing is not None and existing.definition == signal:
                out.append(existing)
                continue
            if read_only or con is None:
                raise StoreReadOnly(
                    f"cannot register signal {ref.path!r}: the store is open read-only"
                )
            definition = signal.model_dump_json()
            if existing is not None:
                if existing.kind != signal.kind:
                    raise SignalKindMismatch(
                        f"signal {ref.path!r} is stored as {existing.kind}; the project now says "
                        f"{signal.kind}. Give the new signal another name"
                    )
                con.execute(
                    "UPDATE signals SET unit = ?, definition = ? WHERE id = ?",
                    [signal.unit, definition, existing.id],
                )
                if existing.definition.unit != signal.unit:
                    log.warning(
                        "store.unit_changed signal=%s old=%s new=%s",
                        ref.path,
                        existing.definition.unit,
                        signal.unit,
                    )
                info = SignalInfo(ref, existing.id, signal)
            else:
                row = first(
                    con.execute(
                        "INSERT INTO signals VALUES (nextval('signal_ids'), ?, ?, ?, ?, ?, "
                        "make_timestamp_ns(?)) RETURNING id",
                        [asset, signal.name, str(signal.kind), signal.unit, definition, clock()],
                    ).fetchall()
                )
                assert row is not None
                info = SignalInfo(ref, int(row[0]), signal)
            self._keep(info)
            out.append(info)
        return out

    def provenance_id(self, con: duckdb.DuckDBPyConnection, prov: Provenance) -> int:
        """The id of ``prov``, interning it on first use (writer thread only).

        A new id is kept by :meth:`commit` once the write's transaction commits, so a
        rolled-back write leaves no phantom id behind.
        """
        pid = self.provenance.get(prov) or self._pending.get(prov)
        if pid is None:
            row = first(
                con.execute(
                    "INSERT INTO provenance VALUES (nextval('provenance_ids'), ?, ?, ?) "
                    "RETURNING id",
                    [prov.connector, prov.address, prov.backfilled],
                ).fetchall()
            )
            assert row is not None
            pid = int(row[0])
            self._pending[prov] = pid
            self._pending_by_id[pid] = prov
        return pid

    def commit(self) -> None:
        """Keep the provenances interned in the committed transaction."""
        self.provenance.update(self._pending)
        self.provenance_by_id.update(self._pending_by_id)
        self.rollback()

    def rollback(self) -> None:
        """Forget the provenances of a rolled-back transaction."""
        self._pending.clear()
        self._pending_by_id.clear()

    def provenance_of(self, pid: int) -> Provenance:
        """The provenance with id ``pid`` (committed or interned by the running write)."""
        prov = self.provenance_by_id.get(pid) or self._pending_by_id.get(pid)
        if prov is None:
            raise KeyError(f"no provenance with id {pid}")
        return prov
