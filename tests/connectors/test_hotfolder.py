"""The hot-folder connector: settling, names, the ledger, bad input and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.bus import MemoryBus
from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.engine import ConnectorEngine, ConnectorSpec
from shopfloor.connectors.hotfolder.client import HotFolderConnector
from shopfloor.connectors.hotfolder.config import HotFolderConfig
from shopfloor.connectors.hotfolder.ledger import Ledger, LedgerEntry, unconfirmed
from shopfloor.connectors.hotfolder.names import FileNaming
from shopfloor.connectors.hotfolder.settle import Settler
from shopfloor.errors import RecordError
from shopfloor.model import DeadLetter, ImageRecord, Record, SignalRef, to_ns
from shopfloor.sim.packaging.line import PackagingSimConfig
from shopfloor.sim.packaging.runner import run_line
from shopfloor.store import DuckDBStore

from .hotfolder_env import CAMERA, LINE, camera_signal, drop, png

NS = 1_000_000_000


@pytest.mark.parametrize(
    "module_name",
    [
        "shopfloor.connectors.hotfolder.ledger",
        "shopfloor.connectors.hotfolder.names",
        "shopfloor.connectors.hotfolder.settle",
        "shopfloor.model.imaging",
        "shopfloor.model.validation",
    ],
)
def test_examples_run(module_name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module_name))
    assert result.failed == 0 and result.attempted > 0


# -- settling ---------------------------------------------------------------------------


def test_a_file_settles_only_after_settle_s_unchanged() -> None:
    settler = Settler(0.5)
    assert not settler.observe("a.png", 100, 1, now_s=0.0)
    assert not settler.observe("a.png", 100, 1, now_s=0.4)
    assert settler.observe("a.png", 100, 1, now_s=0.5)


def test_a_growing_or_touched_file_starts_settling_again() -> None:
    settler = Settler(0.5)
    settler.observe("a.png", 100, 1, now_s=0.0)
    assert not settler.observe("a.png", 200, 1, now_s=0.6)  # grew
    assert not settler.observe("a.png", 200, 2, now_s=1.2)  # touched
    assert settler.observe("a.png", 200, 2, now_s=1.7)


def test_forgotten_and_vanished_files_are_no_longer_tracked() -> None:
    settler = Settler(0.5)
    settler.observe("a.png", 1, 1, now_s=0.0)
    settler.observe("b.png", 1, 1, now_s=0.0)
    settler.forget("a.png")
    settler.keep_only({"a.png"})
    assert len(settler) == 0
    assert not settler.observe("a.png", 1, 1, now_s=5.0)  # starts over


@given(
    sizes=st.lists(st.integers(0, 10), min_size=1, max_size=20),
    step=st.floats(0.01, 1.0),
)
@settings(max_examples=60, deadline=None)
def test_never_ready_before_settle_s_since_the_last_change(sizes: list[int], step: float) -> None:
    settler = Settler(0.5)
    changed_at = 0.0
    last: int | None = None
    for i, size in enumerate(sizes):
        now = i * step
        if size != last:
            changed_at, last = now, size
        ready = settler.observe("f", size, 0, now_s=now)
        assert ready == (now - changed_at >= 0.5)


# -- names ------------------------------------------------------------------------------


def test_part_id_barcode_and_label_come_from_the_name() -> None:
    naming = FileNaming(r"part-(?P<part_id>\d+)_(?P<barcode>\d{13})_(?P<label>[a-z_]+)")
    info = naming.read("part-000042_4006381333931_torn_seal.png")
    assert info.ts_ns is None
    assert info.attributes == {
        "source_file": "part-000042_4006381333931_torn_seal.png",
        "part_id": "000042",
        "barcode": "4006381333931",
        "label": "torn_seal",
    }


def test_the_label_comes_from_the_folder_when_asked() -> None:
    naming = FileNaming(r"part-(?P<part_id>\d+)", labels_from_folder=True)
    assert naming.read("dented/part-7.png").attributes["label"] == "dented"
    assert "label" not in naming.read("part-7.png").attributes


@pytest.mark.parametrize(
    ("pattern", "fmt", "name", "expected"),
    [
        (r"(?P<ts>\d{13})", "epoch_ms", "cam_1714564800123.png", "2024-05-01T12:00:00.123Z"),
        (
            r"_(?P<ts>[\d\-T:.Z]+)\.png",
            "iso",
            "x_2024-05-01T12:00:00.5Z.png",
            "2024-05-01T12:00:00.5Z",
        ),
        (
            r"(?P<ts>\d{8}_\d{6})",
            "%Y%m%d_%H%M%S",
            "img_20240501_120000.jpg",
            "2024-05-01T12:00:00Z",
        ),
    ],
)
def test_the_time_comes_from_the_name(pattern: str, fmt: str, name: str, expected: str) -> None:
    assert FileNaming(pattern, True, fmt).read(name).ts_ns == to_ns(expected)


def test_a_name_without_a_time_is_refused_by_name() -> None:
    naming = FileNaming(r"(?P<ts>\d{13})", True, "epoch_ms")
    with pytest.raises(RecordError, match=r"part-1\.png"):
        naming.read("part-1.png")
    with pytest.raises(RecordError, match="99999999999999999999"):
        FileNaming(r"(?P<ts>\d+)", True, "%Y%m%d").read("99999999999999999999.png")


@given(part=st.integers(0, 10**9), ms=st.integers(10**12, 2 * 10**12))
@settings(max_examples=60, deadline=None)
def test_names_read_back_what_was_written(part: int, ms: int) -> None:
    naming = FileNaming(r"(?P<ts>\d+)_(?P<part_id>\d+)", True, "epoch_ms")
    info = naming.read(f"sub/{ms}_{part:09d}.png")
    assert info.ts_ns == ms * 1_000_000
    assert info.attributes["part_id"] == f"{part:09d}"


def test_config_refuses_a_name_time_without_a_ts_group() -> None:
    with pytest.raises(ValueError, match="ts"):
        HotFolderConfig(name="c", folder="x", timestamp="name", name_pattern=r"(?P<id>\d+)")
    with pytest.raises(ValueError, match="regular expression"):
        HotFolderConfig(name="c", folder="x", name_pattern="(")
    with pytest.raises(ValueError, match="sub-folder"):
        HotFolderConfig(name="c", folder="x", processed="../elsewhere")


# -- the ledger -------------------------------------------------------------------------


def _entry(i: int, ts: int, signal: str = "cam") -> LedgerEntry:
    return LedgerEntry(f"{i}.png", 10, i, "00", signal, ts)


def test_the_ledger_keeps_entries_in_order_and_skips_a_torn_line(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    for i in range(3):
        ledger.append(_entry(i, 100 + i))
    with ledger.path.open("ab") as out:
        out.write(b'{"file": "3.png", "size": 1')  # a crash while appending
    assert [e.ts_ns for e in ledger.load()] == [100, 101, 102]
    ledger.rewrite(ledger.load()[1:])
    assert [e.file for e in Ledger(ledger.path).load()] == ["1.png", "2.png"]


def test_unconfirmed_entries_are_those_after_the_last_stored_image() -> None:
    entries = [_entry(0, 5), _entry(1, 7, "other"), _entry(2, 6), _entry(3, 9)]
    assert [e.file for e in unconfirmed(entries, {"cam": 6, "other": 7})] == ["3.png"]
    assert [e.file for e in unconfirmed(entries, {"cam": 9, "other": 7})] == []
    assert [e.file for e in unconfirmed(entries, {"other": 7})] == ["0.png", "2.png", "3.png"]
    # the latest stored image came another way (an upload): later ones are unconfirmed
    assert [e.file for e in unconfirmed(entries, {"cam": 8, "other": 7})] == ["3.png"]


# -- the connector in the engine --------------------------------------------------------


class Run:
    """An engine running one hot folder, with what it published and dead-lettered."""

    def __init__(
        self,
        config: HotFolderConfig,
        root: Path,
        state: Path,
        signals: list[BoundSignal] | None = None,
        resume: dict[SignalRef, int] | None = None,
    ) -> None:
        self.bus = MemoryBus()
        self.records: list[Record] = []
        self.letters: list[DeadLetter] = []
        bound = signals or [camera_signal()]
        self.engine = ConnectorEngine(
            [ConnectorSpec(config, bound, HotFolderConnector)],
            self.bus,
            self._letters,
            state,
            signals={b.ref: b.definition for b in bound},
            root=root,
            resume=resume,
        )
        self._reader: asyncio.Task[None] | None = None

    async def _letters(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    async def _read(self) -> None:
        sub = await self.bus.subscribe("shopfloor/v1/#", name="test", maxsize=100_000)
        while True:
            for delivery in await sub.get_batch(1024, 0.05):
                self.records.append(delivery.record)
                delivery.ack()

    @property
    def images(self) -> list[ImageRecord]:
        return [r for r in self.records if isinstance(r, ImageRecord)]

    @property
    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.engine.health()["camera"]
        return result

    async def until(self, what: str, condition: Callable[[], bool], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.health}"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(
    config: HotFolderConfig,
    root: Path,
    *,
    signals: list[BoundSignal] | None = None,
    resume: dict[SignalRef, int] | None = None,
) -> AsyncIterator[Run]:
    run = Run(config, root, root / "state", signals, resume)
    run._reader = asyncio.create_task(run._read())
    await asyncio.sleep(0)
    await run.engine.start()
    try:
        yield run
    finally:
        await run.engine.stop()
        await asyncio.sleep(0.1)  # the reader takes what is still on the bus
        run._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run._reader
        await run.bus.close()


def _config(**kwargs: Any) -> HotFolderConfig:
    options: dict[str, Any] = {
        "name": "camera",
        "folder": "inbox",
        "settle_s": 0.2,
        "poll_s": 0.05,
        **kwargs,
    }
    return HotFolderConfig(**options)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


async def test_bad_files_become_dead_letters_and_the_connector_keeps_running(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    good = png(1)
    drop(inbox, "truncated.png", good[: len(good) // 2])
    drop(inbox, "notes.png", b"shift report: all good\n")
    with (inbox / "huge.png").open("wb") as out:  # 50 MB, sparse: never read
        out.truncate(50 * 1024 * 1024)
    async with running(_config(), tmp_path) as run:
        await run.until("three dead letters", lambda: len(run.letters) == 3)
        drop(inbox, "after.png", good)
        await run.until("the good image after them", lambda: len(run.images) == 1)
        assert run.health["state"] == "connected"
    by_file = {letter.detail["file"]: letter for letter in run.letters}
    assert by_file["truncated.png"].detail["category"] == "bad_image"
    assert "truncated" in by_file["truncated.png"].reason
    assert by_file["notes.png"].detail["category"] == "not_an_image"
    assert by_file["huge.png"].detail["category"] == "oversized"
    assert "52428800 bytes" in by_file["huge.png"].reason
    assert by_file["huge.png"].payload == b""
    for letter in run.letters:
        assert letter.location.endswith(letter.detail["file"]) and letter.source == "camera"
    assert run.images[0].data == good
    assert _files(inbox) == [
        "processed/after.png",
        "rejected/huge.png",
        "rejected/notes.png",
        "rejected/truncated.png",
    ]


async def test_a_file_written_in_two_halves_is_taken_whole(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = png(2, size=64)
    async with running(_config(settle_s=0.3), tmp_path) as run:
        target = inbox / "slow.png"
        target.write_bytes(data[:100])
        await asyncio.sleep(0.2)
        with target.open("ab") as out:
            out.write(data[100:])
        await run.until("the image", lambda: len(run.images) == 1)
        await asyncio.sleep(0.4)
    assert not run.letters
    (image,) = run.images
    assert image.data == data and image.format == "png" and image.shape == (64, 64, 3)
    assert image.attributes["source_file"] == "slow.png"


async def test_time_part_id_and_label_come_from_the_name_and_folder(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "good/1714564800000_000042.png", png(1))
    drop(inbox, "dented/1714564801000_000043.png", png(2))
    config = _config(
        timestamp="name",
        name_pattern=r"(?P<ts>\d{13})_(?P<part_id>\d+)",
        ts_format="epoch_ms",
        labels_from="folder",
    )
    async with running(config, tmp_path) as run:
        await run.until("two images", lambda: len(run.images) == 2)
    got = {i.attributes["part_id"]: i for i in run.images}
    assert got["000042"].ts_ns == to_ns("2024-05-01T12:00:00Z")
    assert got["000042"].attributes["label"] == "good"
    assert got["000043"].attributes["label"] == "dented"
    assert _files(inbox) == [
        "processed/dented/1714564801000_000043.png",
        "processed/good/1714564800000_000042.png",
    ]


async def test_each_file_goes_to_the_signal_whose_glob_it_matches(tmp_path: Path) -> None:
    from shopfloor.model import Signal, SignalKind

    top = SignalRef(LINE, "top_view")
    signals = [
        BoundSignal(top, Signal(name="top_view", kind=SignalKind.IMAGE), "top/*.png"),
        camera_signal("*.png"),
    ]
    drop(tmp_path / "inbox", "top/a.png", png(1))
    drop(tmp_path / "inbox", "side/b.png", png(2))
    drop(tmp_path / "inbox", "c.txt", b"not watched")
    async with running(_config(), tmp_path, signals=signals) as run:
        await run.until("two images", lambda: len(run.images) == 2)
    assert {i.attributes["source_file"]: i.signal for i in run.images} == {
        "top/a.png": top,
        "side/b.png": CAMERA,
    }
    assert (tmp_path / "inbox" / "c.txt").exists()


async def test_images_sharing_a_modification_time_get_distinct_timestamps(
    tmp_path: Path,
) -> None:
    import os

    inbox = tmp_path / "inbox"
    for i in range(3):
        os.utime(drop(inbox, f"p{i}.png", png(i)), ns=(10**18, 10**18 + 5))
    async with running(_config(), tmp_path) as run:
        await run.until("three images", lambda: len(run.images) == 3)
    assert sorted(i.ts_ns for i in run.images) == [10**18 + 5, 10**18 + 6, 10**18 + 7]


@pytest.mark.parametrize("after", ["move", "delete", "keep"])
async def test_a_restart_takes_no_file_twice(tmp_path: Path, after: str) -> None:
    inbox = tmp_path / "inbox"
    for i in range(3):
        drop(inbox, f"p{i}.png", png(i))
    config = _config(after=after)
    async with running(config, tmp_path) as first:
        await first.until("three images", lambda: len(first.images) == 3)
    stamps = {i.ts_ns: i.attributes["source_file"] for i in first.images}
    resume = {CAMERA: max(stamps)}  # the store holds all three
    drop(inbox, "p3.png", png(3))
    async with running(config, tmp_path, resume=resume) as second:
        await second.until("the new image", lambda: len(second.images) == 1)
        await asyncio.sleep(0.5)
    assert [i.attributes["source_file"] for i in second.images] == ["p3.png"]
    left = _files(inbox)
    expected = {
        "move": ["processed/p0.png", "processed/p1.png", "processed/p2.png", "processed/p3.png"],
        "delete": [],
        "keep": ["p0.png", "p1.png", "p2.png", "p3.png"],
    }[after]
    assert left == expected


async def test_a_crash_before_the_ledger_entry_is_stored_once(tmp_path: Path) -> None:
    """Emitted, stored, then a crash before the ledger entry and the move: emitted again,
    and the store counts it as a duplicate, so the image is stored once."""
    inbox = tmp_path / "inbox"
    drop(inbox, "p0.png", png(0))
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    try:
        await store.register_signals(LINE, [camera_signal().definition])
        async with running(_config(), tmp_path) as first:
            await first.until("the image", lambda: len(first.images) == 1)
        assert (await store.write(first.images)).written == 1
        # the state a crash between emit and the ledger leaves: no entry, file in place
        (tmp_path / "state" / "camera" / "ledger.jsonl").unlink()
        (inbox / "processed" / "p0.png").rename(inbox / "p0.png")
        async with running(_config(), tmp_path) as second:
            await second.until("the image again", lambda: len(second.images) == 1)
        report = await store.write(second.images)
        assert report.duplicates == 1 and report.written == 0, report
        assert await store.count(CAMERA) == 1
        assert second.images[0].ts_ns == first.images[0].ts_ns
    finally:
        await store.close()


async def test_a_crash_before_the_move_finishes_it_without_emitting(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "p0.png", png(0))
    async with running(_config(), tmp_path) as first:
        await first.until("the image", lambda: len(first.images) == 1)
    (inbox / "processed" / "p0.png").rename(inbox / "p0.png")  # ledgered, not yet moved
    resume = {CAMERA: first.images[0].ts_ns}
    async with running(_config(), tmp_path, resume=resume) as second:
        await second.until("the move", lambda: not (inbox / "p0.png").exists())
        await asyncio.sleep(0.4)
    assert second.images == []
    assert _files(inbox) == ["processed/p0.png"]


async def test_images_the_store_lost_in_a_crash_are_emitted_again(tmp_path: Path) -> None:
    """Handed to the bus and ledgered, but the platform died before the store had them:
    at the next start, what follows the store's last image is emitted again."""
    inbox = tmp_path / "inbox"
    for i in range(4):
        drop(inbox, f"p{i}.png", png(i))
    async with running(_config(), tmp_path) as first:
        await first.until("four images", lambda: len(first.images) == 4)
    order = sorted(first.images, key=lambda i: i.ts_ns)
    resume = {CAMERA: order[1].ts_ns}  # the store kept the first two only
    async with running(_config(), tmp_path, resume=resume) as second:
        await second.until("the last two again", lambda: len(second.images) == 2)
        await asyncio.sleep(0.3)
    assert [i.ts_ns for i in second.images] == [i.ts_ns for i in order[2:]]
    assert [i.data for i in second.images] == [i.data for i in order[2:]]


@pytest.mark.parametrize("partial", [False, True], ids=["atomic", "partial-writes"])
async def test_the_packaging_line_into_a_hot_folder(tmp_path: Path, partial: bool) -> None:
    """Every part the simulated line writes arrives once, whole, with its part id."""
    inbox = tmp_path / "inbox"
    config = _config(settle_s=0.25, name_pattern=r"part-(?P<part_id>\d+)")
    sim = PackagingSimConfig(seed=4, speed_parts_s=40, size=48)
    async with running(config, tmp_path) as run:
        await run_line(sim, inbox, parts=40, partial=partial)
        await run.until("forty images", lambda: len(run.images) == 40)
        await asyncio.sleep(0.4)
    assert not run.letters
    with (tmp_path / "inbox-labels.csv").open() as handle:
        truth = {int(row["part_id"]) for row in csv.DictReader(handle)}
    got = [int(i.attributes["part_id"]) for i in run.images]
    assert sorted(got) == sorted(truth) == list(range(1, 41))
    for image in run.images:
        stored = inbox / "processed" / image.attributes["source_file"]
        assert stored.read_bytes() == image.data and image.shape == (48, 48, 3)
