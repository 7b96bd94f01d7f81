"""The MQTT connector against mosquitto on loopback: routes, waveforms, images, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time as time_module
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest

from shopfloor.connectors.base import BoundSignal, ConnectorContext
from shopfloor.connectors.mqtt.client import MqttConnector
from shopfloor.connectors.mqtt.config import MqttConfig
from shopfloor.connectors.mqtt.waveform import encode_waveform
from shopfloor.errors import ConfigError
from shopfloor.model import (
    DeadLetter,
    ImageRecord,
    Quality,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
    WaveformBlock,
    record_count,
)

from .hotfolder_env import png

LINE = "acme/plant1/packaging/line1/cell1"
FILLER = f"{LINE}/filler"


class Collected:
    """What a connector handed on: records and dead letters."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.letters: list[DeadLetter] = []

    async def emit(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    async def reject(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    def scalars(self, ref: SignalRef) -> tuple[list[int], list[float]]:
        ts: list[int] = []
        values: list[float] = []
        for r in self.records:
            if isinstance(r, ScalarBatch) and r.signal == ref:
                ts += r.ts_ns.tolist()
                values += r.values.tolist()
        return ts, values

    async def until(self, what: str, condition: Callable[[], bool], timeout_s: float = 10) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)


@asynccontextmanager
async def running(
    port: int, tmp_path: Path, signals: list[BoundSignal] | None = None, **settings: Any
) -> AsyncIterator[tuple[MqttConnector, Collected]]:
    """A connector reading from the broker on ``port`` until the block ends."""
    config = MqttConfig(name="line1", port=port, flush_interval_ms=20, **settings)
    got = Collected()
    context = ConnectorContext(tmp_path, got.emit, got.reject, root=tmp_path)
    connector = MqttConnector(config, signals or [], context)
    await connector.connect()
    task = asyncio.create_task(connector.run())
    try:
        yield connector, got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connector.close()


async def publish(port: int, *messages: tuple[str, bytes | str]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-device") as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


def bound(name: str, topic: str, kind: str = "scalar", **options: Any) -> BoundSignal:
    extra: dict[str, Any] = {}
    if kind == "waveform":
        extra = {"sample_rate_hz": 1000.0, "channels": ["x", "y"], "unit": "g"}
    return BoundSignal(
        SignalRef(FILLER, name), Signal(name=name, kind=SignalKind(kind), **extra), topic, options
    )


async def test_a_route_maps_topic_levels_to_assets_and_signals(broker: int, tmp_path: Path) -> None:
    route = {
        "topic": "plant/+line/+machine/+signal",
        "asset": "acme/plant1/packaging/{line}/cell1/{machine}",
        "value": "data.values[0].v",
        "timestamp": "data.ts",
        "quality": "data.q",
    }
    async with running(broker, tmp_path, topics=[route]) as (_, got):
        await publish(
            broker,
            *[
                (
                    f"plant/line{i % 2 + 1}/{machine}/temperature",
                    json.dumps(
                        {
                            "data": {
                                "values": [{"v": 20.0 + i}],
                                "ts": f"2026-01-31T08:00:0{i}Z",
                                "q": "good" if i else "uncertain",
                            }
                        }
                    ),
                )
                for i in range(4)
                for machine in ("filler", "capper")
            ],
        )
        await got.until("8 values", lambda: record_count(got.records) == 8)
    refs = {r.signal for r in got.records}
    assert refs == {
        SignalRef(f"acme/plant1/packaging/line{n}/cell1/{m}", "temperature")
        for n in (1, 2)
        for m in ("filler", "capper")
    }
    batch = next(
        r
        for r in got.records
        if isinstance(r, ScalarBatch) and r.signal.asset.endswith("line1/cell1/filler")
    )
    assert batch.values.tolist()[0] == 20.0
    assert batch.quality.tolist()[0] == Quality.UNCERTAIN
    assert batch.provenance.address == route["topic"]
    assert not got.letters


async def test_bad_messages_become_dead_letters_and_reading_goes_on(
    broker: int, tmp_path: Path
) -> None:
    signals = [
        bound("speed", "line/speed", value="v", timestamp="ts", timestamp_format="epoch_ms"),
        bound("vibration", "line/vibration", kind="waveform"),
        bound("camera", "line/camera/+part_id", kind="image"),
    ]
    route = {"topic": "line/any/+signal", "asset": FILLER}
    good = encode_waveform(np.zeros((8, 2)), sample_rate_hz=1000.0, t0_ns=10**18)
    bad = [
        ("line/speed", b"{not json"),
        ("line/speed", b'{"value": 1}'),
        ("line/speed", b'{"v": "fast", "ts": 1}'),
        ("line/speed", b'{"v": 1, "ts": "noon"}'),
        ("line/vibration", good[:-3]),
        ("line/vibration", b"hello"),
        ("line/camera/P-1", png(1)[:-40]),
        ("line/camera/P-2", b"not an image"),
        ("line/any/bad name", b"1"),
    ]
    async with running(broker, tmp_path, signals, topics=[route]) as (_, got):
        await publish(broker, *bad, ("line/speed", b'{"v": 7, "ts": 1769846400000}'))
        await got.until("the good value", lambda: bool(got.scalars(signals[0].ref)[1]))
        await got.until("every letter", lambda: len(got.letters) == len(bad))
    reasons = [
        (letter.location, letter.detail["category"], letter.reason) for letter in got.letters
    ]
    assert [category for _, category, _ in reasons] == [
        "malformed_json",
        "missing_path",
        "wrong_type",
        "bad_timestamp",
        "truncated_waveform",
        "truncated_waveform",
        "bad_image",
        "not_an_image",
        "unmapped_topic",
    ]
    for (topic, _), (location, _, reason) in zip(bad, reasons, strict=True):
        assert location == topic
        assert topic in reason
    assert got.letters[0].payload == b"{not json"
    assert got.scalars(signals[0].ref) == ([1769846400000 * 10**6], [7.0])


async def test_waveform_blocks_and_images_are_records(broker: int, tmp_path: Path) -> None:
    signals = [
        bound("vibration", "line/vibration", kind="waveform"),
        bound("camera", "line/camera/+part_id", kind="image", timestamp="ts"),
        bound("camera2", "line/camera2", kind="image"),
    ]
    samples = np.arange(200, dtype=np.int16).reshape(100, 2)
    block = encode_waveform(samples, sample_rate_hz=1000.0, t0_ns=10**18, dtype="int16", scale=0.01)
    header = json.dumps({"part_id": "P-7", "barcode": 4711, "ts": "2026-01-31T08:00:00Z"})
    async with running(broker, tmp_path, signals) as (_, got):
        await publish(
            broker,
            ("line/vibration", block),
            ("line/camera/P-from-topic", header.encode() + b"\n" + png(2)),
            ("line/camera2", png(3)),
        )
        await got.until("3 records", lambda: len(got.records) == 3)
    assert not got.letters
    wave = next(r for r in got.records if isinstance(r, WaveformBlock))
    assert (wave.t0_ns, wave.sample_rate_hz, wave.unit) == (10**18, 1000.0, "g")
    np.testing.assert_allclose(wave.data, samples * 0.01)
    images = {r.signal.name: r for r in got.records if isinstance(r, ImageRecord)}
    assert images["camera"].attributes == {"part_id": "P-7", "barcode": "4711"}
    assert images["camera"].data == png(2)
    assert images["camera"].shape == (16, 16, 3)
    assert images["camera2"].format == "png"


def test_a_signal_of_another_kind_is_refused(tmp_path: Path) -> None:
    async def nothing(items: object) -> None:
        pass

    config = MqttConfig(name="line1")
    context = ConnectorContext(tmp_path, nothing, nothing)
    with pytest.raises(ConfigError, match="scalar signal; a image payload"):
        MqttConnector(config, [bound("speed", "a/b", payload="image")], context)
    with pytest.raises(ConfigError, match="waveform payload carries its own time"):
        MqttConnector(config, [bound("v", "a/b", kind="waveform", value="x")], context)


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ({"topic": "a/+m", "asset": "acme/p/a/l/c/{machine}"}, "does not capture"),
        ({"topic": "a/b", "asset": "acme/p"}, "ISA-95 needs 6"),
        ({"topic": "a/#x/b", "asset": FILLER}, "last level"),
        ({"topic": "a/b", "asset": FILLER, "value": "a..b"}, "path"),
    ],
)
def test_routes_are_checked_with_the_settings(route: dict[str, Any], words: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=words):
        MqttConfig(name="line1", topics=[route])


async def test_one_json_message_feeds_every_signal_bound_to_its_topic(
    broker: int, tmp_path: Path
) -> None:
    signals = [
        bound("temperature", "line/filler/telemetry", value="temp"),
        bound("pressure", "line/filler/telemetry", value="press"),
    ]
    route = {"topic": "line/+machine/telemetry", "asset": f"{LINE}/{{machine}}", "signal": "x"}
    async with running(broker, tmp_path, signals, topics=[route]) as (_, got):
        await publish(
            broker,
            ("line/filler/telemetry", b'{"temp": 21.5, "press": 3.1}'),
            ("line/filler/telemetry", b'{"temp": 21.6}'),
            ("line/filler/telemetry", b"{broken"),
        )
        await got.until("3 values and 2 letters", lambda: record_count(got.records) == 3)
        await got.until("2 letters", lambda: len(got.letters) == 2)
    assert got.scalars(signals[0].ref)[1] == [21.5, 21.6]
    assert got.scalars(signals[1].ref)[1] == [3.1]
    missing, broken = got.letters
    assert missing.detail["signal"] == signals[1].ref.path
    assert "no value at press" in missing.reason
    assert broken.detail["category"] == "malformed_json"


async def test_a_stop_while_an_image_is_read_still_hands_it_on(
    broker: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message is out of the client's queue and acknowledged: a stop must not lose it."""
    signals = [bound("camera", "line/camera", kind="image")]
    reading = asyncio.Event()
    async with running(broker, tmp_path, signals) as (connector, got):
        (route,) = connector.routes
        read = route.reader.image
        loop = asyncio.get_running_loop()

        def slow_read(*args: Any, **kwargs: Any) -> Any:
            loop.call_soon_threadsafe(reading.set)
            time_module.sleep(0.5)  # in the decode thread when the stop comes
            return read(*args, **kwargs)

        monkeypatch.setattr(route.reader, "image", slow_read)
        await publish(broker, ("line/camera", png(4)))
        await asyncio.wait_for(reading.wait(), 10)
        monkeypatch.setattr(route.reader, "image", read)
    # `running` cancelled run() mid-read, then closed the connector
    (record,) = got.records
    assert isinstance(record, ImageRecord) and record.data == png(4)
