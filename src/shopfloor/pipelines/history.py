"""Pipelines over stored history: fitting on a baseline, and computing outputs.

Reads the sources and context signals from the store in time chunks, in time order, and
feeds them to the same :class:`~shopfloor.pipelines.pipeline.PipelineRun` the live runner
uses. The computation runs in a worker thread (``asyncio.to_thread``), never on the event
loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from shopfloor.errors import PipelineError
from shopfloor.model import (
    NS_PER_S,
    Provenance,
    Record,
    ScalarBatch,
    SignalKind,
    SignalRef,
    format_ns,
)
from shopfloor.pipelines.frames import FeatureFrame
from shopfloor.pipelines.outputs import OutputPlan
from shopfloor.pipelines.pipeline import Pipeline
from shopfloor.store import DeletingStore, Store, WriteReport

__all__ = [
    "DeletingStore",
    "HistoryReport",
    "fit_pipeline",
    "read_features",
    "read_history",
    "run_history",
]

Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)


@dataclass
class HistoryReport:
    """What a run over history did.

    ``conflicts`` counts outputs refused because the store holds different values at the
    same times (outputs of another fit, say); ``replaced`` counts the old outputs a
    ``rescore`` deleted first.
    """

    windows: int = 0
    gated_out: int = 0
    gaps: int = 0
    chunks: int = 0
    store: WriteReport = field(default_factory=WriteReport)
    alerts: int = 0
    replaced: int = 0
    rescored: bool = False
    fit_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return {
            "windows": self.windows,
            "gated_out": self.gated_out,
            "gaps": self.gaps,
            "values_written": self.store.written,
            "duplicates": self.store.duplicates,
            "rejected": self.store.rejected,
            "conflicts": self.store.conflicts,
            "rescored": self.rescored,
            "replaced": self.replaced,
            "fit_version": self.fit_version,
            "alerts": self.alerts,
        }


async def read_history(
    store: Store,
    pipeline: Pipeline,
    start_ns: int,
    end_ns: int,
    *,
    chunk_s: float = 60.0,
    context_lookback_s: float = 3600.0,
    progress: Progress | None = None,
) -> AsyncIterator[list[Record]]:
    """The pipeline's input records in ``[start_ns, end_ns)``, chunk by chunk, in time order.

    Context signals are also read from ``context_lookback_s`` before the start, so the
    first windows know the value held from before.
    """
    if end_ns <= start_ns:
        raise PipelineError(f"empty time range {format_ns(start_ns)} .. {format_ns(end_ns)}")
    step = max(1, round(chunk_s * NS_PER_S))
    first = True
    t = start_ns
    while t < end_ns:
        t1 = min(end_ns, t + step)
        records: list[Record] = []
        for ref, definition in pipeline.sources:
            if definition.kind == SignalKind.WAVEFORM:
                records.extend(await store.read_waveforms(ref, t, t1))
            else:
                records.append(_batch(ref, await store.read_scalars(ref, t, t1)))
        for ref, _ in pipeline.context:
            lo = t - round(context_lookback_s * NS_PER_S) if first else t
            records.append(_batch(ref, await store.read_scalars(ref, lo, t1)))
        first = False
        yield [r for r in records if not isinstance(r, ScalarBatch) or len(r)]
        if progress is not None:
            progress(t1 - start_ns, end_ns - start_ns)
        t = t1


def _batch(ref: SignalRef, table: pa.Table) -> ScalarBatch:
    return ScalarBatch.of(
        ref,
        table.column("ts").cast("int64").to_numpy(),
        table.column("value").to_numpy(zero_copy_only=False),
        Provenance("store"),
        quality=table.column("quality").to_numpy(),
    )


async def _first_frames(
    store: Store, pipeline: Pipeline, start_ns: int, end_ns: int, progress: Progress | None
) -> FeatureFrame:
    """The output of the first step (features) over a time range."""
    run = pipeline.start()
    frames = []

    def features(records: list[Record] | None) -> FeatureFrame | None:
        windows = run.flush() if records is None else run.push(records)
        return None if windows is None else pipeline.transform(windows, until=1)

    # the next chunk is read while the worker thread computes this one (DuckDB releases the
    # GIL); chunks still go through the run one at a time, in order
    computing: asyncio.Future[FeatureFrame | None] | None = None
    try:
        async for records in read_history(store, pipeline, start_ns, end_ns, progress=progress):
            if computing is not None and (frame := await computing) is not None:
                frames.append(frame)
            computing = asyncio.ensure_future(asyncio.to_thread(features, records))
        if computing is not None and (frame := await computing) is not None:
            frames.append(frame)
    finally:
        if computing is not None and not computing.done():  # a read failed: let it finish
            await asyncio.wait([computing])
            computing.exception()  # the read's error is the one raised
    frame = await asyncio.to_thread(features, None)
    if frame is not None:
        frames.append(frame)
    return FeatureFrame.concat(frames)


async def read_features(
    store: Store,
    pipeline: Pipeline,
    start_ns: int,
    end_ns: int,
    *,
    progress: Progress | None = None,
) -> FeatureFrame:
    """The features (the first step's output, in physical units) over ``[start_ns, end_ns)``.

    One row per window the pipeline cuts (after its gate), with the windows' context and
    regime: what a model learns from and scores (:mod:`shopfloor.ml.dataset`).
    """
    return await _first_frames(store, pipeline, start_ns, end_ns, progress)


async def fit_pipeline(
    store: Store,
    pipeline: Pipeline,
    start_ns: int,
    end_ns: int,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit every step that learns, in order, on the baseline ``[start_ns, end_ns)``.

    Returns a summary of the baseline (windows, regimes) for the fitted state. A regime of
    the pipeline with no baseline window is listed in ``uncovered_regimes`` (and logged):
    windows in it score NaN, state ``unknown``, when the pipeline scales by regime.
    """
    frame = await _first_frames(store, pipeline, start_ns, end_ns, progress)
    if len(frame) == 0:
        raise PipelineError(
            f"pipeline {pipeline.name!r}: no windows between {format_ns(start_ns)} and "
            f"{format_ns(end_ns)} (no data, or the gate kept none)"
        )

    def fit_steps() -> None:
        data: Any = frame
        for step in pipeline.steps[1:]:
            if step.needs_fit:
                step.fit(data)
            data = step.transform(data)

    await asyncio.to_thread(fit_steps)
    regimes: dict[str, int] = {}
    for regime in frame.regime:
        regimes[regime or "-"] = regimes.get(regime or "-", 0) + 1
    uncovered = [r for r in pipeline.regimes if r not in regimes]
    if uncovered:
        log.warning(
            "pipeline.uncovered_regimes pipeline=%s regimes=%s",
            pipeline.name,
            ",".join(uncovered),
        )
    return {
        "from": format_ns(start_ns),
        "to": format_ns(end_ns),
        "windows": len(frame),
        "regimes": regimes,
        "uncovered_regimes": uncovered,
    }


async def run_history(
    store: Store,
    pipeline: Pipeline,
    plan: OutputPlan,
    start_ns: int,
    end_ns: int,
    *,
    publish: Callable[[str, Record], Awaitable[None]] | None = None,
    progress: Progress | None = None,
    rescore: bool = False,
) -> HistoryReport:
    """Compute the pipeline over ``[start_ns, end_ns)`` and write its outputs.

    Outputs already stored with other values (another fit's) are refused as conflicts and
    counted in the report. With ``rescore``, this pipeline's stored outputs in the range
    are deleted first (counted in ``replaced``) and replaced by this fit's; the store must
    be able to delete (:class:`DeletingStore`).
    """
    if end_ns <= start_ns:  # before anything is deleted or registered
        raise PipelineError(f"empty time range {format_ns(start_ns)} .. {format_ns(end_ns)}")
    report = HistoryReport(rescored=rescore, fit_version=pipeline.fit_version)
    plan.version = pipeline.fit_version
    if plan.signals:
        await store.register_signals(pipeline.asset.path, plan.signals)
    if rescore:
        if not isinstance(store, DeletingStore):
            raise PipelineError(
                f"pipeline {pipeline.name!r}: the store {type(store).__name__} cannot delete "
                "old outputs, so it cannot rescore"
            )
        for ref in plan.refs:
            report.replaced += await store.delete_range(ref, start_ns, end_ns)
        log.info(
            "pipeline.rescore pipeline=%s from=%s to=%s replaced=%d fit=%s",
            pipeline.name,
            format_ns(start_ns),
            format_ns(end_ns),
            report.replaced,
            pipeline.fit_version,
        )
    run = pipeline.start()

    async def emit(frame: FeatureFrame | None) -> None:
        if frame is None or len(frame) == 0:
            return
        stored, published = plan.records(frame)
        report.windows += len(frame)
        report.alerts += sum(
            1
            for r in stored
            if not isinstance(r, ScalarBatch) and getattr(r, "kind", "") == "alert_raised"
        )
        if stored:
            report.store.add(await store.write(stored))
        if publish is not None:
            for topic, record in published:
                await publish(topic, record)

    async for records in read_history(store, pipeline, start_ns, end_ns, progress=progress):
        report.chunks += 1
        await emit(await asyncio.to_thread(run.process, records))
    await emit(await asyncio.to_thread(run.finish))
    report.gated_out = run.windows_gated_out
    report.gaps = run.gaps
    return report
