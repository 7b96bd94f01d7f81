"""The contract every :class:`~shopfloor.store.Store` backend keeps.

Each check states its invariant in its docstring and takes an opened, empty store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import numpy as np

from shopfloor.errors import UnknownSignal
from shopfloor.model import (
    EventRecord,
    ImageRecord,
    Provenance,
    Quality,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
    WaveformBlock,
    to_ns,
)
from shopfloor.store import DeletingStore, Store

__all__ = ["ASSET", "STORE_CHECKS", "check_image_attributes", "check_store"]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
T0 = to_ns("2024-03-01T08:00:00Z")
S = 1_000_000_000
PROV = Provenance("check", "contract")

SIGNALS = [
    Signal(name="speed", unit="rpm", valid_range=(0.0, 30000.0)),
    Signal(name="temp", unit="degC", allow_nan=True, retention_days=1),
    Signal(
        name="accel",
        kind=SignalKind.WAVEFORM,
        unit="g",
        sample_rate_hz=25600.0,
        channels=["x", "y", "z"],
    ),
    Signal(name="camera", kind=SignalKind.IMAGE),
    Signal(name="program", kind=SignalKind.EVENT),
]


def ref(name: str) -> SignalRef:
    """A signal of the check asset."""
    return SignalRef(ASSET, name)


async def _setup(store: Store) -> None:
    await store.register_signals(ASSET, SIGNALS)


async def check_register_and_list(store: Store) -> None:
    """Registered signals are listed with their definitions; registering again is a no-op."""
    await _setup(store)
    await _setup(store)
    infos = {i.ref: i for i in await store.signals()}
    assert {ref(s.name) for s in SIGNALS} <= set(infos)
    assert infos[ref("accel")].definition.channels == ["x", "y", "z"]
    assert len({i.id for i in infos.values()}) == len(infos)


async def check_scalar_roundtrip(store: Store) -> None:
    """Written samples read back in time order with value, quality and status intact."""
    await _setup(store)
    ts = T0 + np.arange(100, dtype=np.int64)[::-1] * S
    values = np.linspace(0, 99, 100)[::-1]
    quality = np.where(np.arange(100) % 10 == 0, Quality.UNCERTAIN, Quality.GOOD)
    report = await store.write(
        [ScalarBatch.of(ref("speed"), ts, values, PROV, quality=quality, status_code=0x40000000)]
    )
    assert report.written == 100 and report.balanced
    table = await store.read_scalars(ref("speed"), T0, T0 + 100 * S)
    assert table.num_rows == 100
    got_ts = table.column("ts").cast("int64").to_numpy()
    assert np.all(np.diff(got_ts) > 0) and got_ts[0] == T0
    assert np.allclose(table.column("value").to_numpy(), np.linspace(0, 99, 100))
    assert int(table.column("status_code")[0].as_py()) == 0x40000000
    assert await store.count(ref("speed")) == 100
    assert await store.time_range(ref("speed")) == (T0, T0 + 99 * S)
    half = await store.read_scalars(ref("speed"), T0, T0 + 50 * S)
    assert half.num_rows == 50  # the end is exclusive
    limited = await store.read_scalars(ref("speed"), T0, T0 + 100 * S, limit=7)
    assert limited.num_rows == 7


async def check_idempotent_writes(store: Store) -> None:
    """Writing the same samples twice stores them once.

    A different value at the same timestamp is a conflict: the first value stays and the
    new one is dead-lettered.
    """
    await _setup(store)
    batch = ScalarBatch.of(ref("speed"), T0 + np.arange(10) * S, np.arange(10.0), PROV)
    first = await store.write([batch])
    again = await store.write([batch])
    assert first.written == 10 and again.written == 0 and again.duplicates == 10
    clash = ScalarBatch.of(ref("speed"), [T0 + 3 * S], [333.0], PROV)
    report = await store.write([clash])
    assert report.conflicts == 1 and report.rejected == 1 and report.balanced
    table = await store.read_scalars(ref("speed"), T0, T0 + 10 * S)
    assert table.num_rows == 10 and table.column("value")[3].as_py() == 3.0
    letters = await store.read_dead_letters()
    assert any("333.0" in d.reason for d in letters)
    inner = ScalarBatch.of(
        ref("speed"), [T0 + 20 * S, T0 + 20 * S, T0 + 21 * S], [1.0, 1.0, 2.0], PROV
    )
    report = await store.write([inner])
    assert report.written == 2 and report.duplicates == 1 and report.balanced


async def check_rejections_are_dead_lettered(store: Store) -> None:
    """Each bad value is dead-lettered with a reason; good values of the batch are stored.

    Bad: NaN, out-of-range values, impossible timestamps and unknown signals.
    """
    await _setup(store)
    values = [1.0, float("nan"), 50000.0, 4.0, float("inf")]
    ts = [T0, T0 + S, T0 + 2 * S, 0, T0 + 4 * S]
    report = await store.write([ScalarBatch.of(ref("speed"), ts, values, PROV)])
    assert report.written == 1 and report.rejected == 4 and report.balanced
    assert set(report.reasons) == {"not_finite", "out_of_range", "timestamp_out_of_range"}
    unknown = await store.write([ScalarBatch.of(ref("nope"), [T0], [1.0], PROV)])
    assert unknown.rejected == 1 and unknown.reasons == {"unknown_signal": 1}
    assert await store.count_dead_letters() == 5
    reasons = " ".join(d.reason for d in await store.read_dead_letters())
    assert "NaN" in reasons and "valid range" in reasons and "unknown signal" in reasons
    nan_ok = await store.write([ScalarBatch.of(ref("temp"), [T0], [float("nan")], PROV)])
    assert nan_ok.written == 1


async def check_downsampling(store: Store) -> None:
    """Buckets hold min, max, mean and count of the samples inside them."""
    await _setup(store)
    ts = T0 + np.arange(60, dtype=np.int64) * S
    await store.write([ScalarBatch.of(ref("speed"), ts, np.arange(60.0), PROV)])
    table = await store.read_scalars_downsampled(ref("speed"), T0, T0 + 60 * S, 10 * S)
    assert table.num_rows == 6
    assert table.column("min").to_pylist()[0] == 0.0
    assert table.column("max").to_pylist()[0] == 9.0
    assert table.column("mean").to_pylist()[1] == 14.5
    assert table.column("count").to_pylist() == [10] * 6


async def check_waveform_roundtrip(store: Store) -> None:
    """Blocks read back bit-identical with their rate, unit and shape; repeats are kept once."""
    await _setup(store)
    rng = np.random.default_rng(1)
    blocks = [
        WaveformBlock(
            ref("accel"),
            T0 + i * S,
            25600.0,
            rng.normal(size=(25600, 3)).astype(np.float32),
            "g",
            PROV,
        )
        for i in range(3)
    ]
    report = await store.write([*blocks, blocks[0]])
    assert report.written == 3 and report.duplicates == 1
    got = await store.read_waveforms(ref("accel"), T0, T0 + 10 * S)
    assert [b.t0_ns for b in got] == [b.t0_ns for b in blocks]
    assert got[1].data.dtype == np.float32 and got[1].data.shape == (25600, 3)
    assert np.array_equal(got[1].data, blocks[1].data)
    bad = WaveformBlock(ref("accel"), T0 + 9 * S, 25600.0, np.zeros((100, 2)), "g", PROV)
    report = await store.write([bad])
    assert report.rejected == 1 and "bad_shape" in report.reasons


async def check_images_and_events(store: Store) -> None:
    """Images and events read back as written; an event repeats only once per kind."""
    await _setup(store)
    image = ImageRecord(ref("camera"), T0, b"\x89PNG fake", "png", (2, 3, 1), PROV)
    await store.write([image])
    got = await store.read_images(ref("camera"), T0, T0 + S)
    assert got[0].data == image.data and got[0].shape == (2, 3, 1)
    event = EventRecord(
        ref("program"), T0, "program_change", PROV, "P1 -> P2", attributes={"program": 2}
    )
    report = await store.write([event, event])
    assert report.written == 1 and report.duplicates == 1
    events = await store.read_events(T0, T0 + S, asset=ASSET)
    assert events[0].attributes == {"program": 2} and events[0].message == "P1 -> P2"
    assert await store.read_events(T0, T0 + S, kind="other") == []


async def check_image_attributes(store: Store) -> None:
    """An image's attributes read back as written; an image without any reads back ``{}``.

    The same image written again with the same bytes is a duplicate, whatever its
    attributes: images are identified by ``(signal, ts)`` and compared by their bytes.
    """
    await _setup(store)
    attributes = {"part_id": "000042", "barcode": "4006381333931", "label": "torn_seal"}
    tagged = ImageRecord(
        ref("camera"), T0, b"\x89PNG a", "png", (2, 3, 3), PROV, attributes=attributes
    )
    plain = ImageRecord(ref("camera"), T0 + S, b"\x89PNG b", "png", (2, 3, 3), PROV)
    report = await store.write([tagged, plain])
    assert report.written == 2, report
    got = await store.read_images(ref("camera"), T0, T0 + 2 * S)
    assert [dict(g.attributes) for g in got] == [attributes, {}]
    again = await store.write([tagged])
    assert again.duplicates == 1 and again.written == 0, again


async def check_retention(store: Store) -> None:
    """Data older than a signal's retention is deleted; other signals keep theirs."""
    await _setup(store)
    await store.write(
        [
            ScalarBatch.of(ref("temp"), [T0, T0 + 2 * 86400 * S], [1.0, 2.0], PROV),
            ScalarBatch.of(ref("speed"), [T0], [1.0], PROV),
        ]
    )
    deleted = await store.apply_retention(now_ns=T0 + int(2.5 * 86400) * S)
    assert deleted.get(ref("temp").path) == 1
    assert await store.count(ref("temp")) == 1
    assert await store.count(ref("speed")) == 1


async def check_delete_range(store: Store) -> None:
    """A deleting store removes only ``[start_ns, end_ns)`` of the one signal named.

    It says how many values it deleted and refuses an unknown signal with
    ``UnknownSignal``. A store without the ability (not a
    :class:`~shopfloor.store.DeletingStore`) passes as is.
    """
    if not isinstance(store, DeletingStore):
        return
    await _setup(store)
    await store.write(
        [
            ScalarBatch.of(ref("speed"), [T0, T0 + S, T0 + 2 * S], [1.0, 2.0, 3.0], PROV),
            ScalarBatch.of(ref("temp"), [T0 + S], [1.0], PROV),
            EventRecord(ref("program"), T0 + S, "program_change", PROV, "P1 -> P2"),
        ]
    )
    assert await store.delete_range(ref("speed"), T0 + S, T0 + 2 * S) == 1
    kept = await store.read_scalars(ref("speed"), T0, T0 + 3 * S)
    assert kept.column("value").to_pylist() == [1.0, 3.0]
    assert await store.count(ref("temp")) == 1
    assert await store.delete_range(ref("program"), T0, T0 + 3 * S) == 1
    assert await store.read_events(T0, T0 + 3 * S, ref=ref("program")) == []
    assert await store.delete_range(ref("speed"), T0 + S, T0 + 2 * S) == 0
    try:
        await store.delete_range(ref("nope"), T0, T0 + S)
    except UnknownSignal:
        pass
    else:
        raise AssertionError("delete_range of an unknown signal did not raise UnknownSignal")


STORE_CHECKS: list[Callable[[Store], Awaitable[None]]] = [
    check_register_and_list,
    check_scalar_roundtrip,
    check_idempotent_writes,
    check_rejections_are_dead_lettered,
    check_downsampling,
    check_waveform_roundtrip,
    check_images_and_events,
    check_image_attributes,
    check_retention,
    check_delete_range,
]


async def check_store(factory: Callable[[], Awaitable[Store]]) -> None:
    """Run every check, each on a fresh store from ``factory`` (closed afterwards)."""
    for check in STORE_CHECKS:
        store = await factory()
        try:
            await check(store)
        finally:
            await store.close()
