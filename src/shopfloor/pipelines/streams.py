"""Source signals as streams of samples on the pipeline's rate, fed in any chunking.

Every stream is stateful and chunk-invariant: feeding the same samples in one piece or
block by block gives bit-identical output, which is what lets one pipeline run the same
on stored history and on live data.

- A waveform at the pipeline's rate passes through.
- A waveform at an integer multiple of it is low-pass filtered (FIR, state carried
  between blocks) and decimated.
- A scalar signal (irregular samples) is held onto the pipeline's grid: the value at
  each grid time is the last sample at or before it.

A jump in a waveform's block times (a gap in the data) ends a segment: no window spans it.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import signal as sps

from shopfloor.errors import PipelineError
from shopfloor.model import NS_PER_S, ScalarBatch, SignalKind, SignalRef, WaveformBlock

__all__ = ["SampleStream"]


class SampleStream:
    """Samples of one source on the pipeline grid, with their timestamps.

    Parameters
    ----------
    ref
        The source signal.
    kind
        Waveform or scalar.
    n_channels
        Channels of the source.
    source_rate_hz
        Nominal rate of a waveform source (ignored for scalars).
    rate_hz
        The pipeline's rate.
    """

    def __init__(
        self,
        ref: SignalRef,
        kind: SignalKind,
        n_channels: int,
        source_rate_hz: float | None,
        rate_hz: float,
    ) -> None:
        self.ref = ref
        self.kind = kind
        self.n_channels = n_channels
        self.rate_hz = rate_hz
        self.ts = np.empty(0, dtype=np.int64)
        self.samples = np.empty((0, n_channels), dtype=np.float64)
        self._expected_next: int | None = None
        self._factor = 1
        self._fir: npt.NDArray[np.float64] | None = None
        self._zi: npt.NDArray[np.float64] | None = None
        self._phase = 0
        self._last_scalar: tuple[int, float] | None = None
        self._period_ns = NS_PER_S / rate_hz
        if kind == SignalKind.WAVEFORM:
            if source_rate_hz is None:
                raise PipelineError(f"source {ref.path!r} has no sample rate")
            ratio = source_rate_hz / rate_hz
            factor = round(ratio)
            if abs(ratio - factor) > 1e-9 or factor < 1:
                raise PipelineError(
                    f"source {ref.path!r} at {source_rate_hz:g} Hz cannot be brought to "
                    f"{rate_hz:g} Hz: only integer decimation is supported (choose a "
                    f"resample_hz that divides {source_rate_hz:g})"
                )
            self._factor = factor
            if factor > 1:
                # 8 taps per factor, cut-off at 80 % of the new Nyquist frequency
                self._fir = sps.firwin(8 * factor + 1, 0.8 / factor)
        elif kind != SignalKind.SCALAR:
            raise PipelineError(
                f"source {ref.path!r} is a {kind} signal; sources are waveforms or scalars"
            )

    @property
    def end_ns(self) -> int | None:
        """Timestamp of the newest buffered sample."""
        return int(self.ts[-1]) if self.ts.shape[0] else None

    def _append(self, ts: npt.NDArray[np.int64], samples: npt.NDArray[np.float64]) -> None:
        self.ts = np.concatenate([self.ts, ts])
        self.samples = np.concatenate([self.samples, samples])

    def reset(self) -> None:
        """Forget buffered samples (after a gap)."""
        self.ts = self.ts[:0]
        self.samples = self.samples[:0]
        self._zi = None
        self._phase = 0

    def would_gap(self, block: WaveformBlock) -> bool:
        """True when ``block`` starts after a gap (so the current segment ends)."""
        if self._expected_next is None:
            return False
        return block.t0_ns - self._expected_next > 0.5 * NS_PER_S / block.sample_rate_hz

    def push_block(self, block: WaveformBlock) -> bool:
        """Add a waveform block; return True when it started a new segment (a gap)."""
        data = np.asarray(block.data, dtype=np.float64)
        data = data[:, None] if data.ndim == 1 else data
        if data.shape[1] != self.n_channels:
            raise PipelineError(
                f"block of {block.signal.path!r} has {data.shape[1]} channels, "
                f"expected {self.n_channels}"
            )
        source_period = NS_PER_S / block.sample_rate_hz
        gap = False
        expected = self._expected_next
        if expected is not None and abs(block.t0_ns - expected) > 0.5 * source_period:
            if block.t0_ns < expected:
                return False  # a block we already have (redelivery or overlap)
            gap = True
            self.reset()
        self._expected_next = block.t0_ns + round(data.shape[0] * source_period)
        ts = block.t0_ns + np.round(np.arange(data.shape[0]) * source_period).astype(np.int64)
        if self._factor > 1:
            assert self._fir is not None
            if self._zi is None:
                self._zi = np.zeros((self._fir.shape[0] - 1, self.n_channels))
            filtered, self._zi = sps.lfilter(self._fir, 1.0, data, axis=0, zi=self._zi)
            keep = np.arange(self._phase, data.shape[0], self._factor)
            self._phase = (self._phase - data.shape[0]) % self._factor
            data, ts = filtered[keep], ts[keep]
        self._append(ts, data)
        return gap

    def push_scalars(self, batch: ScalarBatch) -> None:
        """Add scalar samples, held onto the grid up to the newest sample."""
        order = np.argsort(batch.ts_ns, kind="stable")
        ts_in, values = batch.ts_ns[order], batch.values[order]
        if self._last_scalar is not None:
            keep = ts_in > self._last_scalar[0]
            ts_in, values = ts_in[keep], values[keep]
        if ts_in.shape[0] == 0:
            return
        period = self._period_ns
        if self._last_scalar is None:
            first_k = math.ceil(ts_in[0] / period)
            prev_ts, prev_val = int(ts_in[0]), float(values[0])
        else:
            prev_ts, prev_val = self._last_scalar
            first_k = math.floor(prev_ts / period) + 1
        last_k = math.floor(int(ts_in[-1]) / period)
        if last_k >= first_k:
            grid = np.round(np.arange(first_k, last_k + 1) * period).astype(np.int64)
            all_ts = np.concatenate([[prev_ts], ts_in])
            all_values = np.concatenate([[prev_val], values])
            index = np.searchsorted(all_ts, grid, side="right") - 1
            self._append(grid, all_values[index][:, None])
        self._last_scalar = (int(ts_in[-1]), float(values[-1]))

    def first_index_at_or_after(self, t_ns: int) -> int:
        """Index of the first buffered sample at or after ``t_ns``."""
        return int(np.searchsorted(self.ts, t_ns, side="left"))

    def drop_before(self, t_ns: int) -> None:
        """Forget samples older than ``t_ns``."""
        cut = self.first_index_at_or_after(t_ns)
        if cut:
            self.ts = self.ts[cut:]
            self.samples = self.samples[cut:]
