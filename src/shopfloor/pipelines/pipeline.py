"""A pipeline and its streaming engine: the one code path for history and live data.

:class:`Pipeline` is the specification (sources, context, rate, windows, gate, regime,
steps, outputs) with a hash of everything that shapes its output. :class:`PipelineRun`
is the engine: records go in, in any chunking and in any order of arrival across signals,
and finished windows come out, transformed by the steps. The history runner feeds it
blocks read from the store; the live runner feeds it deliveries from the bus; because
every stage is chunk-invariant and a window is emitted only once all the data it depends
on has arrived, both give the same values (``tests/pipelines/test_parity.py``).

Window alignment (``window.align``):

- ``epoch`` (the default): windows start on a grid of ``hop`` from the Unix epoch (the
  first sample at or after each grid time), so where a history read begins does not move
  them. A window must fit between two grid times inside one segment of contiguous data.
- ``capture``: windows start at the first sample of each capture (each segment of
  contiguous blocks, i.e. after every gap), then every ``hop``. Short captures taken now
  and then (0.1 s every 10 s) get their windows this way; a history read must begin
  before a capture (or at its start) to give the windows the live run gives.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import PipelineConfigError, PipelineError
from shopfloor.model import (
    NS_PER_S,
    Asset,
    Record,
    ScalarBatch,
    Signal,
    SignalKind,
    SignalRef,
    WaveformBlock,
)
from shopfloor.pipelines.config import GateConfig, PipelineConfig, RegimeConfig
from shopfloor.pipelines.frames import FeatureFrame, WindowBatch
from shopfloor.pipelines.steps import FeaturesStep, Step, build_step
from shopfloor.pipelines.streams import SampleStream

__all__ = ["Pipeline", "PipelineRun"]

PIPELINE_ENGINE_VERSION = 1
"""Bumped when the engine's output for the same spec changes; part of the hash."""


def _regime_label(value: float, edges: list[float]) -> str | None:
    if not math.isfinite(value):
        return None
    for low, high in itertools.pairwise(edges):
        if low <= value < high:
            return f"{low:g}-{high:g}"
    return None


class Pipeline:
    """A pipeline over the signals of one asset.

    Parameters
    ----------
    config
        The declarative specification (also built in Python: ``PipelineConfig(...)``).
    asset
        The asset, with the definitions of its signals.

    Raises
    ------
    PipelineConfigError
        When the specification does not fit the signals (rates, kinds, missing signals) or
        a step cannot be built (an unknown or inapplicable feature, a bad parameter): the
        message names the pipeline, the step and the value.
    """

    def __init__(self, config: PipelineConfig, asset: Asset) -> None:
        if config.asset != asset.path:
            raise PipelineConfigError(
                f"pipeline {config.name!r} is for {config.asset!r}, not {asset.path!r}"
            )
        self.config = config
        self.asset = asset
        self.name = config.name
        self.fit_version: str | None = None
        """Version of the fitted state applied (None until fitted or loaded)."""
        signals = {s.name: s for s in asset.signals}

        def signal(name: str, role: str) -> Signal:
            if name not in signals:
                raise PipelineConfigError(
                    f"pipeline {config.name!r}: {role} {name!r} is not a signal of {asset.path!r}"
                )
            return signals[name]

        self.sources: list[tuple[SignalRef, Signal]] = [
            (SignalRef(asset.path, n), signal(n, "source")) for n in config.sources
        ]
        self.context: list[tuple[SignalRef, Signal]] = []
        names = list(
            dict.fromkeys(
                [
                    *config.context,
                    *([config.when.signal] if config.when else []),
                    *([config.regime.signal] if config.regime else []),
                ]
            )
        )
        for name in names:
            definition = signal(name, "context signal")
            if definition.kind != SignalKind.SCALAR:
                raise PipelineConfigError(
                    f"pipeline {config.name!r}: context signal {name!r} must be "
                    f"scalar, it is {definition.kind}"
                )
            self.context.append((SignalRef(asset.path, name), definition))
        rates = {
            float(d.sample_rate_hz)
            for _, d in self.sources
            if d.kind == SignalKind.WAVEFORM and d.sample_rate_hz is not None
        }
        if config.resample_hz is not None:
            self.rate_hz = float(config.resample_hz)
        elif len(rates) == 1:
            self.rate_hz = rates.pop()
        elif not rates:
            raise PipelineConfigError(
                f"pipeline {config.name!r}: scalar sources need resample_hz "
                "(the rate of the grid they are held onto)"
            )
        else:
            raise PipelineConfigError(
                f"pipeline {config.name!r}: sources run at different rates "
                f"({', '.join(f'{r:g}' for r in sorted(rates))} Hz); set resample_hz"
            )
        window = config.window
        if window.length_samples is not None:
            self.window_samples = window.length_samples
        else:
            assert window.length_s is not None  # the config requires one of the two
            self.window_samples = round(window.length_s * self.rate_hz)
        if self.window_samples < 16:
            raise PipelineConfigError(
                f"pipeline {config.name!r}: windows of {self.window_samples} "
                "samples are too short (at least 16)"
            )
        if window.hop_samples is not None:
            hop_ns = window.hop_samples * NS_PER_S / self.rate_hz
        elif window.hop_s is not None:
            hop_ns = window.hop_s * NS_PER_S
        else:
            hop_ns = self.window_samples * NS_PER_S / self.rate_hz
        self.hop_ns = round(hop_ns)
        if self.hop_ns <= 0:
            raise PipelineConfigError(f"pipeline {config.name!r}: the hop must be longer than 0")
        self.channels: list[str] = []
        for ref, definition in self.sources:
            if not definition.channels:
                self.channels.append(ref.name)
            elif len(self.sources) > 1:
                self.channels += [f"{ref.name}.{c}" for c in definition.channels]
            else:
                self.channels += list(definition.channels)
        context_units = {ref.name: d.unit for ref, d in self.context}
        self.steps: list[Step] = []
        for number, step in enumerate(config.steps, 1):
            try:
                self.steps.append(build_step(step.kind, dict(step.params), asset, context_units))
            except PipelineError as err:
                raise PipelineConfigError(
                    f"pipeline {config.name!r}, step {number} ({step.kind}): {err}"
                ) from err
        if self.steps and self.steps[0].kind != "features":
            raise PipelineConfigError(
                f"pipeline {config.name!r}: the first step must be 'features' "
                "(it turns windows into values)"
            )

    @classmethod
    def from_project(cls, config: PipelineConfig, assets: Sequence[Asset]) -> Pipeline:
        """Build from a project's configuration."""
        for asset in assets:
            if asset.path == config.asset:
                return cls(config, asset)
        raise PipelineConfigError(f"pipeline {config.name!r}: no asset {config.asset!r}")

    def spec(self) -> dict[str, Any]:
        """Everything that shapes the output, as JSON-able data."""
        window = self.config.window
        return {
            "engine": PIPELINE_ENGINE_VERSION,
            "asset": self.asset.path,
            "sources": [
                {
                    "name": r.name,
                    "kind": str(d.kind),
                    "unit": d.unit,
                    "rate_hz": d.sample_rate_hz,
                    "channels": d.channels,
                }
                for r, d in self.sources
            ],
            "context": [{"name": r.name, "unit": d.unit} for r, d in self.context],
            "rate_hz": self.rate_hz,
            "window_samples": self.window_samples,
            "hop_ns": self.hop_ns,
            **({"align": window.align} if window.align != "epoch" else {}),
            "when": self.config.when.model_dump() if self.config.when else None,
            "regime": self.config.regime.model_dump() if self.config.regime else None,
            "steps": [s.spec() for s in self.steps],
        }

    @property
    def spec_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`spec`: the pipeline's identity."""
        text = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def output_columns(self) -> dict[str, str]:
        """Column → unit of what the steps produce."""
        columns: dict[str, str] = {}
        for i, step in enumerate(self.steps):
            if i == 0 and isinstance(step, FeaturesStep):
                columns = step.columns({}, self.channels)
            else:
                columns = step.columns(columns)
        return columns

    @property
    def regimes(self) -> list[str]:
        """Every operating-regime label the regime rule can give (none without a rule)."""
        if self.config.regime is None:
            return []
        return [f"{lo:g}-{hi:g}" for lo, hi in itertools.pairwise(self.config.regime.edges)]

    @property
    def needs_fit(self) -> bool:
        """True when a step learns from a baseline."""
        return any(s.needs_fit for s in self.steps)

    @property
    def signal_refs(self) -> list[SignalRef]:
        """Every signal the pipeline reads."""
        return [r for r, _ in self.sources] + [r for r, _ in self.context]

    def start(self) -> PipelineRun:
        """A fresh streaming engine for this pipeline."""
        return PipelineRun(self)

    def transform(self, windows: WindowBatch, *, until: int | None = None) -> FeatureFrame:
        """Run the steps (all, or the first ``until``) over windows."""
        data: Any = windows
        steps = self.steps if until is None else self.steps[:until]
        if not steps:
            return FeatureFrame(
                windows.t0_ns, windows.t1_ns, {}, {}, windows.context, windows.regime
            )
        for step in steps:
            data = step.transform(data)
        frame: FeatureFrame = data
        return frame


@dataclass
class _Context:
    ts: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    values: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    newest: int | None = None


def _gate_ok(gate: GateConfig, values: npt.NDArray[np.float64]) -> bool:
    if values.size == 0 or not np.all(np.isfinite(values)):
        return False
    if gate.between is not None:
        return bool(np.all((values >= gate.between[0]) & (values <= gate.between[1])))
    if gate.equals is not None:
        return bool(np.all(values == gate.equals))
    assert gate.one_of is not None
    return bool(np.all(np.isin(values, gate.one_of)))


class PipelineRun:
    """The streaming state of one pipeline: push records, get finished windows.

    ``context_lag_s``: a window waits for context samples until one at or after its end
    has arrived, or until the sources are this far past its end (a context signal that
    changes rarely, e.g. under a deadband, must not hold windows back forever).
    """

    def __init__(self, pipeline: Pipeline, *, context_lag_s: float = 5.0) -> None:
        self.pipeline = pipeline
        self._streams = {
            ref: SampleStream(ref, d.kind, d.n_channels, d.sample_rate_hz, pipeline.rate_hz)
            for ref, d in pipeline.sources
        }
        self._context = {ref: _Context() for ref, _ in pipeline.context}
        self._next_start: int | None = None
        self._lag_ns = round(context_lag_s * NS_PER_S)
        self.windows_emitted = 0
        self.windows_gated_out = 0
        self.gaps = 0

    # -- input --------------------------------------------------------------------------

    def push(self, records: Sequence[Record]) -> WindowBatch | None:
        """Add records (any signals, any order); return the windows they completed."""
        done: list[WindowBatch] = []
        for record in sorted(records, key=_start_ns):
            stream = self._streams.get(record.signal)
            if stream is not None:
                if isinstance(record, WaveformBlock) and stream.would_gap(record):
                    # the segment ends here: its last windows will get no more samples
                    last = self._cut(final=True)
                    if last is not None:
                        done.append(last)
                if isinstance(record, WaveformBlock):
                    if stream.kind != SignalKind.WAVEFORM:
                        raise PipelineError(
                            f"{record.signal.path}: a waveform block for a scalar source"
                        )
                    if stream.push_block(record):
                        self.gaps += 1
                        self._next_start = None
                elif isinstance(record, ScalarBatch):
                    stream.push_scalars(record)
            context = self._context.get(record.signal)
            if context is not None and isinstance(record, ScalarBatch) and len(record):
                order = np.argsort(record.ts_ns, kind="stable")
                context.ts = np.concatenate([context.ts, record.ts_ns[order]])
                context.values = np.concatenate([context.values, record.values[order]])
                if not np.all(np.diff(context.ts) >= 0):
                    order = np.argsort(context.ts, kind="stable")
                    context.ts, context.values = context.ts[order], context.values[order]
                newest = int(record.ts_ns.max())
                context.newest = newest if context.newest is None else max(context.newest, newest)
        batch = self._cut(final=False)
        if batch is not None:
            done.append(batch)
        return WindowBatch.concat(done) if done else None

    def flush(self) -> WindowBatch | None:
        """Windows complete in their sources whose context is still partial (end of data)."""
        return self._cut(final=True)

    # -- windows --------------------------------------------------------------------------

    def _cut(self, *, final: bool) -> WindowBatch | None:
        pipeline = self.pipeline
        n = pipeline.window_samples
        streams = list(self._streams.values())
        if any(s.end_ns is None for s in streams):
            return None
        hop = pipeline.hop_ns
        if self._next_start is None:
            first = max(int(s.ts[0]) for s in streams)
            if pipeline.config.window.align == "capture":
                self._next_start = first
            else:
                self._next_start = -(-first // hop) * hop
        starts: list[int] = []
        indices: list[list[int]] = []
        while True:
            grid = self._next_start
            idx = [s.first_index_at_or_after(grid) for s in streams]
            if any(i + n > s.ts.shape[0] for i, s in zip(idx, streams, strict=True)):
                break
            t1 = max(int(s.ts[i + n - 1]) for i, s in zip(idx, streams, strict=True)) + 1
            if not final and not self._context_ready(t1, streams):
                break
            starts.append(grid)
            indices.append(idx)
            self._next_start = grid + hop
        if not starts:
            return None
        batch = self._build(indices)
        oldest = self._next_start
        for stream in streams:
            stream.drop_before(oldest)
        for context in self._context.values():
            keep = max(0, int(np.searchsorted(context.ts, oldest, side="left")) - 1)
            context.ts, context.values = context.ts[keep:], context.values[keep:]
        return batch

    def _context_ready(self, t1: int, streams: list[SampleStream]) -> bool:
        newest_source = min(int(s.ts[-1]) for s in streams)
        for context in self._context.values():
            if context.newest is not None and context.newest >= t1 - 1:
                continue
            if newest_source - t1 >= self._lag_ns:
                continue
            return False
        return True

    def _context_values(self, context: _Context, t0: int, t1: int) -> npt.NDArray[np.float64]:
        lo = int(np.searchsorted(context.ts, t0, side="left"))
        hi = int(np.searchsorted(context.ts, t1, side="left"))
        if hi > lo:
            return context.values[lo:hi]
        if lo > 0:
            return context.values[lo - 1 : lo]
        return np.empty(0)

    def _build(self, indices: list[list[int]]) -> WindowBatch | None:
        pipeline = self.pipeline
        n = pipeline.window_samples
        streams = list(self._streams.values())
        config = pipeline.config
        keep: list[int] = []
        t0s, t1s = [], []
        context_cols: dict[str, list[float]] = {r.name: [] for r, _ in pipeline.context}
        regimes: list[str | None] = []
        for w, idx in enumerate(indices):
            t0 = min(int(s.ts[i]) for i, s in zip(idx, streams, strict=True))
            t1 = max(int(s.ts[i + n - 1]) for i, s in zip(idx, streams, strict=True)) + 1
            values = {ref.name: self._context_values(c, t0, t1) for ref, c in self._context.items()}
            if config.when is not None and not _gate_ok(config.when, values[config.when.signal]):
                self.windows_gated_out += 1
                continue
            keep.append(w)
            t0s.append(t0)
            t1s.append(t1)
            for name, collected in context_cols.items():
                v = values[name]
                collected.append(float(np.mean(v)) if v.size else math.nan)
            regimes.append(self._regime(config.regime, values))
        if not keep:
            return None
        data = np.empty((len(keep), len(pipeline.channels), n))
        for row, w in enumerate(keep):
            column = 0
            for stream, i in zip(streams, indices[w], strict=True):
                block = stream.samples[i : i + n]
                data[row, column : column + stream.n_channels] = block.T
                column += stream.n_channels
        self.windows_emitted += len(keep)
        return WindowBatch(
            np.asarray(t0s, dtype=np.int64),
            np.asarray(t1s, dtype=np.int64),
            data,
            list(pipeline.channels),
            pipeline.rate_hz,
            {k: np.asarray(v) for k, v in context_cols.items()},
            regimes,
        )

    @staticmethod
    def _regime(
        regime: RegimeConfig | None, values: dict[str, npt.NDArray[np.float64]]
    ) -> str | None:
        if regime is None:
            return None
        v = values[regime.signal]
        return _regime_label(float(np.mean(v)) if v.size else math.nan, regime.edges)

    def process(self, records: Sequence[Record]) -> FeatureFrame | None:
        """Push records and run the steps over the windows they completed."""
        windows = self.push(records)
        return None if windows is None else self.pipeline.transform(windows)

    def finish(self) -> FeatureFrame | None:
        """Flush and run the steps over the last windows."""
        windows = self.flush()
        return None if windows is None else self.pipeline.transform(windows)


def _start_ns(record: Record) -> int:
    if isinstance(record, ScalarBatch):
        return int(record.ts_ns.min()) if len(record) else 0
    if isinstance(record, WaveformBlock):
        return record.t0_ns
    return record.ts_ns
