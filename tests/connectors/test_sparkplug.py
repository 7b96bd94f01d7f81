"""The Sparkplug B host against mosquitto on loopback and a simulated edge node.

Births become signals in the store, every value lands under its signal, a sequence gap
brings a rebirth, a death marks the values bad, a wrong protobuf is a dead letter while
the host keeps running, and the host's STATE is retained with its will.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import aiomqtt
import numpy as np
import pytest

from shopfloor.connectors.sparkplug.mapping import signal_name_of
from shopfloor.errors import SignalKindMismatch
from shopfloor.model import EventRecord, Quality, ScalarBatch, Signal, SignalKind, SignalRef
from shopfloor.sim.sparkplug import DEFAULT_DEVICES, DEFAULT_NODE_METRICS

from .sparkplug_env import NODE, PRESS, Host, host_config, sim

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ref(device: str | None, metric: str) -> SignalRef:
    return SignalRef(NODE if device is None else PRESS, signal_name_of(metric))


def _gaps(host: Host) -> list[EventRecord]:
    return [r for r in host.records if isinstance(r, EventRecord) and r.kind == "gap"]


async def test_every_metric_is_stored_under_its_asset_and_signal(
    broker: int, tmp_path: Path
) -> None:
    host = Host(host_config(broker))
    async with host.running(tmp_path), sim(broker) as node:
        refs = {_ref(None, m.name) for m in DEFAULT_NODE_METRICS} | {
            _ref("press-1", m.name) for m in DEFAULT_DEVICES["press-1"]
        }
        await host.until("values of every metric", lambda: all(host.count(r) >= 5 for r in refs))
        await node.stop()
        sent = {key: list(values) for key, values in node.sent.items()}
        await asyncio.sleep(0.3)
        assert not host.letters, host.letters[:3]
        definitions = {ref: host.engine.signals[ref] for ref in refs}
        store = host.store
        # the births created the signals in the store before their values arrived
        assert {(a, n) for a, names in host.registered for n in names} == {
            (r.asset, r.name) for r in refs
        }
        stored = {info.ref for info in await store.signals()}
        assert refs <= stored
        for (device, name), values in sent.items():
            ref = _ref(device, name)
            signal = definitions[ref]
            assert signal.source == f"Line1/press-gw{'' if device is None else '/' + device}:{name}"
            ts = [ms * 1_000_000 for ms, _ in values]
            if signal.kind == SignalKind.EVENT:
                events = await store.read_events(ts[0], ts[-1] + 1, ref=ref)
                got = {e.ts_ns: e.attributes for e in events}
                for t, (_, value) in zip(ts, values, strict=True):
                    if t in got:  # the last values may be after the stop
                        key = "values" if isinstance(value, tuple) else "value"
                        assert got[t][key] == (list(value) if key == "values" else value)
                assert len(got) >= len(values) - 2
                continue
            table = await store.read_scalars(ref, ts[0], ts[-1] + 1)
            got_values = dict(
                zip(
                    table["ts"].cast("int64").to_pylist(),
                    table["value"].to_pylist(),
                    strict=True,
                )
            )
            assert len(got_values) >= len(values) - 2, (ref, len(got_values), len(values))
            for t, (_, value) in zip(ts, values, strict=True):
                if t not in got_values:
                    continue
                if isinstance(value, datetime):
                    expected = value.timestamp() * 1000
                elif signal.dtype == "float32":
                    expected = float(np.float32(value))
                else:
                    expected = float(value)
                assert got_values[t] == expected, (ref, t, value)
        speed = definitions[_ref("press-1", "Motor/Speed")]
        assert (speed.unit, speed.dtype) == ("rpm", "float32")
        assert definitions[_ref("press-1", "Temperature")].dtype == "int16"
        assert definitions[_ref("press-1", "Last Change")].unit == "ms"
        assert definitions[_ref(None, "Line/Mode")].kind == SignalKind.EVENT
        assert host.nodes["Line1/press-gw"]["state"] == "online"
        assert host.nodes["Line1/press-gw"]["devices"] == {"press-1": "online"}


async def test_a_sequence_gap_asks_for_a_rebirth_and_records_the_gap(
    broker: int, tmp_path: Path
) -> None:
    host = Host(host_config(broker))
    async with host.running(tmp_path), sim(broker) as node:
        speed = _ref(None, "Line/Speed")
        await host.until("first values", lambda: host.count(speed) >= 3)
        node.skip_seq(4)
        await host.until("the rebirth", lambda: node.rebirth_requests >= 1 and node.births >= 2)
        before = host.count(speed)
        await host.until("values after the rebirth", lambda: host.count(speed) >= before + 3)
        health = host.nodes["Line1/press-gw"]
        assert health["seq_gaps"] == 1, health
        assert health["rebirths_requested"] == 1, health
        assert "4 lost" in str(health["last_error"])
        gaps = {g.signal for g in _gaps(host)}
        assert speed in gaps and _ref("press-1", "Motor/Speed") in gaps
        assert not host.letters, host.letters[:3]
        assert host.health["state"] == "connected"


async def test_data_before_birth_is_a_dead_letter_until_the_rebirth(
    broker: int, tmp_path: Path
) -> None:
    async with sim(broker) as node:
        await asyncio.wait_for(node.connected.wait(), 10)
        await asyncio.sleep(0.3)  # born before the host listens
        host = Host(host_config(broker))
        async with host.running(tmp_path):
            speed = _ref(None, "Line/Speed")
            await host.until("values after the rebirth", lambda: host.count(speed) >= 3)
            assert node.rebirth_requests >= 1
            await host.until("the dead letters", lambda: bool(host.letters))
            letters = [x for x in host.letters if "before the edge node's NBIRTH" in x.reason]
            assert letters and letters[0].location.startswith("spBv1.0/Line1/")
            for _ in range(200):  # the letters reach the store a little after the host
                stored = await host.store.read_dead_letters(source="sparkplug")
                if any("rebirth requested" in x.reason for x in stored):
                    break
                await asyncio.sleep(0.1)
            assert any("rebirth requested" in x.reason for x in stored), stored


async def test_a_wrong_protobuf_is_a_dead_letter_and_the_host_keeps_running(
    broker: int, tmp_path: Path
) -> None:
    host = Host(host_config(broker))
    async with host.running(tmp_path), sim(broker) as node:
        speed = _ref(None, "Line/Speed")
        await host.until("first values", lambda: host.count(speed) >= 2)
        await node.publish_raw("spBv1.0/Line1/NDATA/press-gw", b"\x0a\xff\xff garbage")
        await host.until("the dead letter", lambda: bool(host.letters))
        (letter,) = host.letters
        assert letter.location == "spBv1.0/Line1/NDATA/press-gw"
        assert "not a Sparkplug B payload" in letter.reason
        assert letter.payload == b"\x0a\xff\xff garbage"
        before = host.count(speed)
        await host.until("values after it", lambda: host.count(speed) >= before + 3)
        assert host.health["state"] == "connected"
        assert host.nodes["Line1/press-gw"]["dead_letters"] == 1
        assert "not a Sparkplug B payload" in str(host.nodes["Line1/press-gw"]["last_error"])
        stored = await host.store.read_dead_letters(source="sparkplug")
        assert [x.location for x in stored] == ["spBv1.0/Line1/NDATA/press-gw"]


async def test_death_marks_values_bad_and_a_new_birth_brings_them_back(
    broker: int, tmp_path: Path
) -> None:
    host = Host(host_config(broker))
    async with host.running(tmp_path):
        node = sim(broker)
        speed = _ref(None, "Line/Speed")
        async with node:
            await host.until("first values", lambda: host.count(speed) >= 3)
            await node.die()
        await host.until(
            "the edge node offline", lambda: host.nodes["Line1/press-gw"]["state"] == "offline"
        )

        def bad() -> list[ScalarBatch]:
            return [
                r
                for r in host.records
                if isinstance(r, ScalarBatch) and (r.quality == Quality.BAD).any()
            ]

        await host.until("bad values", lambda: len({r.signal for r in bad()}) >= 5)
        assert {r.signal for r in bad()} >= {speed, _ref("press-1", "Motor/Speed")}
        assert all(math.isnan(v) for r in bad() for v in r.values)
        assert host.nodes["Line1/press-gw"]["devices"] == {"press-1": "offline"}
        async with sim(broker) as again:
            before = host.count(speed)
            await host.until("values again", lambda: host.count(speed) >= before + 2)
            assert again.bd_seq == 0
        assert host.nodes["Line1/press-gw"]["deaths"] >= 1
        gap = next(g for g in _gaps(host) if g.signal == speed)
        assert "NDEATH" in gap.attributes["cause"]
        assert not host.letters, host.letters[:3]


async def _retained_state(port: int, host_id: str) -> dict[str, object]:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"spBv1.0/STATE/{host_id}", qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.retain
                assert isinstance(message.payload, bytes)
                result: dict[str, object] = json.loads(message.payload)
                return result
    raise AssertionError("no STATE")


async def test_state_is_retained_online_and_offline_after_the_host_stops(
    broker: int, tmp_path: Path
) -> None:
    host = Host(host_config(broker, host_id="plant-host"))
    async with host.running(tmp_path):
        online = await _retained_state(broker, "plant-host")
        assert online["online"] is True and isinstance(online["timestamp"], int)
        details = host.health["details"]
        assert isinstance(details, dict) and details["state_topic"] == "spBv1.0/STATE/plant-host"
    offline = await _retained_state(broker, "plant-host")
    assert offline == {"online": False, "timestamp": online["timestamp"]}


@pytest.mark.parametrize("groups", [[], ["Line1"]])
async def test_a_stale_offline_state_is_corrected_while_the_host_runs(
    broker: int, tmp_path: Path, groups: list[str]
) -> None:
    host = Host(host_config(broker, groups=groups))
    async with host.running(tmp_path):
        online = await _retained_state(broker, "shopfloor")
        stale = json.dumps({"online": False, "timestamp": 1}).encode()
        async with aiomqtt.Client("127.0.0.1", broker) as client:
            await client.publish("spBv1.0/STATE/shopfloor", stale, qos=1, retain=True)
        for _ in range(100):
            if await _retained_state(broker, "shopfloor") == online:
                break
            await asyncio.sleep(0.05)
        assert await _retained_state(broker, "shopfloor") == online


async def test_a_device_death_and_birth(broker: int, tmp_path: Path) -> None:
    host = Host(host_config(broker))
    async with host.running(tmp_path), sim(broker) as node:
        motor = _ref("press-1", "Motor/Speed")
        await host.until("device values", lambda: host.count(motor) >= 2)
        await node.device_death("press-1")
        await host.until(
            "the device offline",
            lambda: host.nodes["Line1/press-gw"]["devices"] == {"press-1": "offline"},
        )
        assert host.nodes["Line1/press-gw"]["state"] == "online"
        await node.device_birth("press-1")
        before = host.count(motor)
        await host.until("device values again", lambda: host.count(motor) >= before + 2)
        assert host.nodes["Line1/press-gw"]["devices"] == {"press-1": "online"}
        assert any(g.signal == motor and "DDEATH" in g.message for g in _gaps(host))
        assert not host.letters, host.letters[:3]


async def test_signals_the_store_refuses_turn_their_values_into_dead_letters(
    broker: int, tmp_path: Path
) -> None:
    host = Host(host_config(broker))
    register = host._register

    async def refuse_the_node(asset: str, signals: Sequence[Signal]) -> object:
        if asset == NODE:
            raise SignalKindMismatch(f"{asset}/Line.Speed is stored as an event signal")
        return await register(asset, signals)

    host._register = refuse_the_node  # type: ignore[method-assign]
    async with host.running(tmp_path), sim(broker):
        motor = _ref("press-1", "Motor/Speed")
        await host.until("device values", lambda: host.count(motor) >= 3)
        await host.until("the dead letters", lambda: len(host.letters) >= 2)
        assert host.count(_ref(None, "Line/Speed")) == 0
        reasons = {x.reason for x in host.letters}
        assert any("could not be created: SignalKindMismatch" in r for r in reasons), reasons
        assert host.health["state"] == "connected"
