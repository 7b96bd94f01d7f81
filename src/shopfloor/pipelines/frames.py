"""What flows between the stages of a pipeline: windows, then frames of named columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureFrame", "WindowBatch"]


@dataclass
class WindowBatch:
    """Windows cut from the sources, with the operating context each was taken in.

    Attributes
    ----------
    t0_ns, t1_ns
        Start (first sample) and end (exclusive) of each window.
    data
        ``(n_windows, n_channels, n_samples)``: every channel of every source, in order.
    channels
        Name of each channel: ``<signal>`` or ``<signal>.<channel>``.
    sample_rate_hz
        The pipeline's rate.
    context
        Context signal name → value per window (mean over the window, or the last value
        before it); NaN when unknown.
    regime
        Operating-regime label per window (``None`` without a regime rule).
    """

    t0_ns: npt.NDArray[np.int64]
    t1_ns: npt.NDArray[np.int64]
    data: npt.NDArray[np.float64]
    channels: list[str]
    sample_rate_hz: float
    context: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    regime: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.t0_ns.shape[0])

    @staticmethod
    def concat(batches: list[WindowBatch]) -> WindowBatch:
        """Stack batches of the same pipeline."""
        if len(batches) == 1:
            return batches[0]
        first = batches[0]
        return WindowBatch(
            np.concatenate([b.t0_ns for b in batches]),
            np.concatenate([b.t1_ns for b in batches]),
            np.concatenate([b.data for b in batches]),
            list(first.channels),
            first.sample_rate_hz,
            {k: np.concatenate([b.context[k] for b in batches]) for k in first.context},
            [r for b in batches for r in b.regime],
        )


@dataclass
class FeatureFrame:
    """One row per window, one column per named value, with units and context kept."""

    t0_ns: npt.NDArray[np.int64]
    t1_ns: npt.NDArray[np.int64]
    columns: dict[str, npt.NDArray[np.float64]]
    units: dict[str, str]
    context: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    regime: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.t0_ns.shape[0])

    def matrix(self, names: list[str] | None = None) -> npt.NDArray[np.float64]:
        """Columns as a ``(n_windows, n_columns)`` array."""
        names = list(self.columns) if names is None else names
        if not names:
            return np.empty((len(self), 0))
        return np.column_stack([self.columns[n] for n in names])

    @staticmethod
    def concat(frames: list[FeatureFrame]) -> FeatureFrame:
        """Stack frames with the same columns."""
        frames = [f for f in frames if len(f)]
        if not frames:
            return FeatureFrame(np.empty(0, np.int64), np.empty(0, np.int64), {}, {})
        first = frames[0]
        return FeatureFrame(
            np.concatenate([f.t0_ns for f in frames]),
            np.concatenate([f.t1_ns for f in frames]),
            {n: np.concatenate([f.columns[n] for f in frames]) for n in first.columns},
            dict(first.units),
            {n: np.concatenate([f.context[n] for f in frames]) for n in first.context},
            [r for f in frames for r in f.regime],
        )
