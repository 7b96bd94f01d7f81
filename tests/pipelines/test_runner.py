"""Pipelines compute off the event loop, live and over history."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from shopfloor.bus import MemoryBus
from shopfloor.model import topic_for
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
    "window": {"length_s": 1.0},
    "steps": [{"features": {"features": ["rms", "kurtosis"]}}],
    "outputs": [{"store": {"prefix": "health."}}],
}


def _spy(pipeline: Pipeline, threads: set[int]) -> None:
    """Record the thread every ``transform`` runs in."""
    transform = pipeline.transform

    def spying(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.get_ident())
        return transform(*args, **kwargs)

    pipeline.transform = spying  # type: ignore[method-assign]


async def test_the_live_service_computes_in_a_worker_thread() -> None:
    blocks, scalars = machine_data(4.0)
    pipeline = Pipeline(PipelineConfig.model_validate(CONFIG), asset())
    plan = build_outputs(
        pipeline.name, ASSET, list(pipeline.config.outputs), pipeline.output_columns()
    )
    threads: set[int] = set()
    _spy(pipeline, threads)
    bus = MemoryBus()

    async def register(asset_path: str, signals: object) -> None:
        pass

    async def dead(letters: object) -> None:
        raise AssertionError(f"dead letters: {letters}")

    service = PipelineService(pipeline, plan, bus, register=register, dead_letters=dead)
    await service.start()
    for record in arrival_order(blocks, scalars):
        await bus.publish(topic_for(record.signal), record)  # type: ignore[attr-defined]
    for _ in range(6000):  # the worker thread computes: wait until it has taken everything
        sub = service._subscription
        if sub is not None and sub.pending == 0 and service._idle.is_set():
            break
        await asyncio.sleep(0.01)
    await service.stop()
    await bus.close()
    assert service.errors == 0, service.last_error
    health = service.health()
    assert health["windows"] >= 3  # the batch in hand is finished on stop
    assert health["fit_version"] is None and health["alerts"] == {}
    assert threads and threading.get_ident() not in threads


async def test_a_run_over_history_computes_in_a_worker_thread(tmp_path: Path) -> None:
    blocks, scalars = machine_data(4.0)
    pipeline = Pipeline(PipelineConfig.model_validate(CONFIG), asset())
    plan = build_outputs(
        pipeline.name, ASSET, list(pipeline.config.outputs), pipeline.output_columns()
    )
    threads: set[int] = set()
    _spy(pipeline, threads)
    async with DuckDBStore(tmp_path / "s.duckdb") as store:
        await store.register_signals(ASSET, asset().signals)
        await store.write([*blocks, *scalars])
        report = await run_history(store, pipeline, plan, START, START + 5 * 10**9)
    assert report.windows >= 3
    assert threads and threading.get_ident() not in threads
