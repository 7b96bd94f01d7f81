"""The embedded store beyond the shared contract: conflicts, failures, read-only, memory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pytest

from shopfloor.errors import (
    SignalKindMismatch,
    StoreDiskFull,
    StoreError,
    StoreFailed,
    StoreLocked,
    StoreOutOfMemory,
    StoreReadOnly,
    UnknownSignal,
)
from shopfloor.model import (
    EventRecord,
    ImageRecord,
    Record,
    ScalarBatch,
    SignalRef,
    WaveformBlock,
    now_ns,
)
from shopfloor.store import DuckDBStore, StoreConfig
from shopfloor.store.duckdb import database, writes
from shopfloor.store.duckdb.failures import translate
from shopfloor.testing.store_checks import ASSET, PROV, SIGNALS, T0, ref

S = 1_000_000_000


def _block(fill: float) -> WaveformBlock:
    return WaveformBlock(ref("accel"), T0, 25600.0, np.full((64, 3), fill), "g", PROV)


def _image(data: bytes) -> ImageRecord:
    return ImageRecord(ref("camera"), T0, data, "png", (1, 1, 1), PROV)


def _event(message: str) -> EventRecord:
    return EventRecord(ref("program"), T0, "program_change", PROV, message)


PAIRS: dict[str, tuple[Callable[[], Record], Callable[[], Record]]] = {
    "waveform": (lambda: _block(1.0), lambda: _block(2.0)),
    "image": (lambda: _image(b"\x89PNG one"), lambda: _image(b"\x89PNG two")),
    "event": (lambda: _event("P1 -> P2"), lambda: _event("P1 -> P3")),
}


async def _open(path: Path, **kwargs: object) -> DuckDBStore:
    store = DuckDBStore(path, **kwargs)  # type: ignore[arg-type]
    await store.open()
    await store.register_signals(ASSET, SIGNALS)
    return store


@pytest.mark.parametrize("kind", sorted(PAIRS))
@pytest.mark.parametrize("together", [True, False], ids=["same-write", "later-write"])
async def test_same_timestamp_different_data_is_a_conflict(
    kind: str, together: bool, tmp_path: Path
) -> None:
    first, second = PAIRS[kind]
    store = await _open(tmp_path / "s.duckdb")
    try:
        if together:
            report = await store.write([first(), second()])
        else:
            await store.write([first()])
            report = await store.write([second()])
        assert report.conflicts == 1 and report.rejected == 1 and report.duplicates == 0
        assert report.balanced and report.reasons == {"conflict": 1}
        letters = await store.read_dead_letters()
        assert len(letters) == 1 and letters[0].detail["category"] == "conflict"
        assert "first is kept" in letters[0].reason
        assert await store.count(first().signal) == 1
    finally:
        await store.close()


@pytest.mark.parametrize("kind", sorted(PAIRS))
async def test_identical_repeat_is_a_duplicate(kind: str, tmp_path: Path) -> None:
    first, _ = PAIRS[kind]
    store = await _open(tmp_path / "s.duckdb")
    try:
        together = await store.write([first(), first()])
        again = await store.write([first()])
        assert together.written == 1 and together.duplicates == 1
        assert again.duplicates == 1 and again.rejected == 0
        assert await store.count_dead_letters() == 0
    finally:
        await store.close()


async def test_dead_letters_newest_first(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s.duckdb")
    try:
        for i in range(3):
            await store.write([ScalarBatch.of(ref("speed"), [T0 + i * S], [-1.0 - i], PROV)])
        letters = await store.read_dead_letters()
        assert ["-3.0" in d.reason for d in letters] == [True, False, False]
        assert "-1.0" in (await store.read_dead_letters(limit=3))[-1].reason
    finally:
        await store.close()


async def test_failed_write_leaves_nothing_and_says_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is all or nothing, and a full disk is named as such (not a bad record)."""
    store = await _open(tmp_path / "s.duckdb")
    try:

        def full(con: duckdb.DuckDBPyConnection, letters: object) -> None:
            raise duckdb.IOException("Could not write file: No space left on device")

        monkeypatch.setattr(writes, "insert_dead_letters", full)
        batch = ScalarBatch.of(ref("speed"), T0 + np.arange(1000) * S, np.arange(1000.0), PROV)
        bad = ScalarBatch.of(ref("speed"), [T0 - S], [-5.0], PROV)
        with pytest.raises(StoreDiskFull, match=f"disk full at {tmp_path}") as caught:
            await store.write([batch, bad])
        assert isinstance(caught.value, StoreFailed)
        assert await store.count(ref("speed")) == 0
        monkeypatch.undo()
        report = await store.write([batch, bad])
        assert report.written == 1000 and report.rejected == 1
    finally:
        await store.close()


async def test_read_only_store_reads_and_refuses_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose folder is not writable opens read-only (nobody else owns it)."""
    path = tmp_path / "s.duckdb"
    store = await _open(path)
    await store.write([ScalarBatch.of(ref("speed"), [T0, T0 + S], [1.0, 2.0], PROV)])
    await store.close()
    monkeypatch.setattr(database, "writable", lambda p: False)
    reader = DuckDBStore(path)
    await reader.open()
    try:
        assert reader.read_only
        assert len(await reader.register_signals(ASSET, SIGNALS)) == len(SIGNALS)
        assert (await reader.read_scalars(ref("speed"), T0, T0 + 2 * S)).num_rows == 2
        assert (await reader.stats()).rows["scalars"] == 2
        with pytest.raises(StoreReadOnly, match="read-only"):
            await reader.write([ScalarBatch.of(ref("speed"), [T0 + 5 * S], [3.0], PROV)])
    finally:
        await reader.close()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions"
)
async def test_read_only_folder_opens_read_only(tmp_path: Path) -> None:
    """Not 'another process owns it' when none runs: the store opens read-only."""
    folder = tmp_path / "project"
    store = await _open(folder / "s.duckdb")
    await store.write([ScalarBatch.of(ref("speed"), [T0], [1.0], PROV)])
    await store.close()
    folder.chmod(0o555)
    (folder / "s.duckdb").chmod(0o444)
    try:
        async with DuckDBStore(folder / "s.duckdb") as reader:
            assert reader.read_only and await reader.count(ref("speed")) == 1
    finally:
        folder.chmod(0o755)


def test_writable_follows_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new" / "s.duckdb"
    assert database.writable(path)
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path)
    assert not database.writable(path)


async def test_memory_limit_spills_instead_of_failing(tmp_path: Path) -> None:
    """A write far larger than ``store.memory_limit`` succeeds, fresh and repeated."""
    path = tmp_path / ".shopfloor" / "store.duckdb"
    store = await _open(path, config=StoreConfig(memory_limit="20MB", threads=1))
    try:
        n = 2_000_000
        start = now_ns() - n * 1000
        batch = ScalarBatch.of(
            ref("speed"), start + np.arange(n, dtype=np.int64) * 1000, np.ones(n), PROV
        )
        assert (await store.write([batch])).written == n
        assert (await store.write([batch])).duplicates == n
    finally:
        await store.close()


async def test_lookup_errors_are_typed(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s.duckdb")
    try:
        with pytest.raises(UnknownSignal) as unknown:
            await store.read_scalars(SignalRef(ASSET, "nope"), T0, T0 + S)
        assert isinstance(unknown.value, LookupError)
        with pytest.raises(SignalKindMismatch) as mismatch:
            await store.read_scalars(ref("accel"), T0, T0 + S)
        assert isinstance(mismatch.value, ValueError)
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("err", "cls", "words"),
    [
        (duckdb.IOException("No space left on device"), StoreDiskFull, "disk full at /p"),
        (duckdb.OutOfMemoryException("could not allocate"), StoreOutOfMemory, "memory_limit"),
        (duckdb.IOException('Could not set lock on file "x"'), StoreLocked, "owns it"),
        (duckdb.IOException("Permission denied"), StoreReadOnly, "read-only"),
        (duckdb.FatalException("database invalidated"), StoreFailed, "/p/s.duckdb"),
        (duckdb.BinderException("no column"), StoreError, "no column"),
    ],
)
def test_duckdb_errors_translate_by_type(err: duckdb.Error, cls: type, words: str) -> None:
    translated = translate(err, "/p/s.duckdb", "write")
    assert type(translated) is cls
    assert words in str(translated)


async def test_image_attributes_column_is_added_to_older_files(tmp_path: Path) -> None:
    """A file written before images had attributes: read-only reads give {}, a writer adds it."""
    path = tmp_path / "s.duckdb"
    store = await _open(path)
    await store.write([_image(b"old")])
    await store.close()
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE images DROP COLUMN attributes")
    con.close()
    async with DuckDBStore(path, read_only=True) as reader:
        (old,) = await reader.read_images(ref("camera"), T0, T0 + S)
        assert old.data == b"old" and dict(old.attributes) == {}
    async with DuckDBStore(path) as writer:
        tagged = ImageRecord(
            ref("camera"), T0 + S, b"new", "png", (1, 1, 1), PROV, attributes={"label": "good"}
        )
        assert (await writer.write([tagged])).written == 1
        got = await writer.read_images(ref("camera"), T0, T0 + 2 * S)
        assert [dict(g.attributes) for g in got] == [{}, {"label": "good"}]
