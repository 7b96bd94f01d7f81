"""One code path: a pipeline over stored history and the same data arriving live agree."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from shopfloor.bus import MemoryBus
from shopfloor.model import ScalarBatch, topic_for
from shopfloor.pipelines import (
    Pipeline,
    PipelineConfig,
    PipelineService,
    build_outputs,
    run_history,
)
from shopfloor.store import DuckDBStore

from .data import ASSET, START, arrival_order, asset, machine_data

CONFIG = {
    "name": "spindle-health",
    "asset": ASSET,
    "sources": ["spindle_accel"],
    "context": ["spindle_speed"],
    "window": {"length_s": 1.0, "hop_s": 0.5},
    "when": {"signal": "spindle_speed", "between": [1000, 20000]},
    "regime": {"signal": "spindle_speed", "edges": [0, 9000, 20000]},
    "steps": [
        {
            "features": {
                "features": [
                    "rms",
                    "kurtosis",
                    "crest_factor",
                    "spectral_centroid",
                    "velocity_rms",
                    "envelope.bpfo",
                    "envelope.bpfi",
                ],
                "speed": "spindle_speed",
            }
        }
    ],
    "outputs": [{"store": {"prefix": "health."}}],
}


async def test_history_and_live_give_the_same_features(tmp_path: Path) -> None:
    blocks, scalars = machine_data(24.0, fault="outer_race", onset_s=5.0)
    the_asset = asset()
    config = PipelineConfig.model_validate(CONFIG)

    # history: everything stored first, then the pipeline reads it back from the store
    store = DuckDBStore(tmp_path / "history.duckdb")
    await store.open()
    await store.register_signals(ASSET, the_asset.signals)
    await store.write([*blocks, *scalars])
    pipeline = Pipeline(config, the_asset)
    plan = build_outputs(config.name, ASSET, list(config.outputs), pipeline.output_columns())
    report = await run_history(store, pipeline, plan, START, START + 30 * 10**9)
    assert report.windows > 20
    history = {}
    for ref in plan.store_columns.values():
        table = await store.read_scalars(ref, START, START + 30 * 10**9)
        history[ref.name] = (
            table.column("ts").cast("int64").to_numpy(),
            table.column("value").to_numpy(),
        )
    await store.close()

    # live: records arrive one by one on the bus, in the order a platform would see them
    bus = MemoryBus()
    pipeline_live = Pipeline(config, the_asset)
    plan_live = build_outputs(
        config.name, ASSET, list(config.outputs), pipeline_live.output_columns()
    )
    outputs = await bus.subscribe(f"shopfloor/v1/{ASSET}/+", name="collect", maxsize=100_000)

    async def register(asset_path: str, signals: object) -> None:
        pass

    async def dead(letters: object) -> None:
        raise AssertionError(f"dead letters from the live pipeline: {letters}")

    service = PipelineService(
        pipeline_live, plan_live, bus, register=register, dead_letters=dead, batch_size=1
    )
    await service.start()
    for record in arrival_order(blocks, scalars):
        await bus.publish(topic_for(record.signal), record)  # type: ignore[attr-defined]
        await asyncio.sleep(0)
    for _ in range(6000):  # the worker thread computes: wait until it has taken everything
        sub = service._subscription
        if sub is not None and sub.pending == 0 and service._idle.is_set():
            break
        await asyncio.sleep(0.01)
    await service.stop()
    live: dict[str, tuple[list[int], list[float]]] = {}
    while outputs.pending:
        delivery = await outputs.get(timeout_s=1)
        record = delivery.record
        delivery.ack()
        if not record.signal.name.startswith("health."):
            continue
        assert isinstance(record, ScalarBatch)
        ts, values = live.setdefault(record.signal.name, ([], []))
        ts.extend(record.ts_ns.tolist())
        values.extend(record.values.tolist())
    assert service.errors == 0, service.last_error
    assert set(live) == set(history)
    compared = 0
    for name, (ts_h, values_h) in history.items():
        ts_l, values_l = np.array(live[name][0]), np.array(live[name][1])
        np.testing.assert_array_equal(ts_l, ts_h)
        np.testing.assert_allclose(values_l, values_h, rtol=1e-9, atol=0)
        compared += values_h.shape[0]
    assert compared > 20 * 21  # windows x columns
    await bus.close()
