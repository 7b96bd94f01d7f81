"""Cutting a long recording (WAV, MATLAB, NumPy) into waveform blocks of a fixed length.

A long recording is stored and queried in pieces: block *j* holds samples
``[j·n, (j+1)·n)`` with ``n = round(block_s · rate)`` and starts at
``start + j·n / rate`` (computed from the sample index, so timestamps never drift). The
last block holds what is left. ``block_s = 0`` keeps each file in one block.

Only the samples of the blocks being emitted are copied (and converted); the source may be
a memory map, so a file larger than memory is read a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.connectors.recordings.options import BlockOptions, read_options
from shopfloor.errors import ConfigError
from shopfloor.model import DeadLetter, Provenance, SignalRef, WaveformBlock, now_ns
from shopfloor.model.timestamps import NS_PER_S

__all__ = [
    "BLOCK_OPTIONS",
    "BlockLayout",
    "block_layout",
    "cut_blocks",
    "file_dead_letter",
    "offset_ns",
    "scaled_copy",
]

BLOCK_OPTIONS = tuple(BlockOptions.model_fields)
"""Options every long-recording format takes."""

Convert = Callable[[npt.NDArray[Any]], npt.NDArray[Any]]


def offset_ns(samples: int, rate_hz: float) -> int:
    """Time of sample ``samples`` after the first, in ns (exact for whole-number rates).

    Examples
    --------
    >>> offset_ns(12000, 12000.0), offset_ns(1, 3.0)
    (1000000000, 333333333)
    """
    if float(rate_hz).is_integer():
        rate = int(rate_hz)
        return (2 * samples * NS_PER_S + rate) // (2 * rate)
    return round(samples * NS_PER_S / rate_hz)


@dataclass(frozen=True)
class BlockLayout:
    """How a long recording becomes blocks.

    Parameters
    ----------
    start_ns
        Time of the first sample (UTC ns).
    rate_hz
        Samples per second; ``None`` when the file says (WAV).
    block_s
        Seconds per block; 0 keeps each file in one block.
    scale
        Factor applied to every value (after integer WAV samples are normalised to ±1.0).
    unit
        Unit of the blocks: one for all, or signal name (or path) → unit.
    """

    start_ns: int
    rate_hz: float | None = None
    block_s: float = 1.0
    scale: float = 1.0
    unit: str | Mapping[str, str] = field(default="")

    def unit_of(self, ref: SignalRef) -> str:
        """The unit of ``ref``'s blocks."""
        if isinstance(self.unit, str):
            return self.unit
        return self.unit.get(ref.path, self.unit.get(ref.name, ""))

    def block_length(self, rate_hz: float, n_samples: int) -> int:
        """Samples per block at ``rate_hz``."""
        if self.block_s == 0:
            return max(n_samples, 1)
        return max(1, round(self.block_s * rate_hz))


def block_layout(
    fmt: str,
    options: Mapping[str, Any],
    *,
    rate_required: bool,
) -> BlockLayout:
    """Check the options of a long recording (:class:`BlockOptions`); return its layout."""
    opts = read_options(fmt, options, BlockOptions)
    if opts.start is None:
        raise ConfigError(
            f"{fmt} option 'start' is required: the file carries no time of its own "
            "(give the time of its first sample, e.g. 2024-01-01T00:00:00Z)"
        )
    if opts.rate_hz is None and rate_required:
        raise ConfigError(f"{fmt} option 'rate_hz' is required: the file does not say its rate")
    return BlockLayout(
        start_ns=opts.start,
        rate_hz=opts.rate_hz,
        block_s=opts.block_s,
        scale=opts.scale,
        unit=opts.unit,
    )


def scaled_copy(scale: float) -> Convert:
    """A converter copying the samples (as float64 when ``scale`` is not 1)."""

    def convert(part: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out: npt.NDArray[Any] = (
            np.array(part, order="C", copy=True)
            if scale == 1.0
            else np.multiply(part, scale, dtype=np.float64)
        )
        return out

    return convert


def cut_blocks(
    targets: Mapping[SignalRef, Sequence[npt.NDArray[Any]]],
    n_samples: int,
    *,
    layout: BlockLayout,
    rate_hz: float,
    provenance: Mapping[SignalRef, Provenance],
    convert: Convert,
    values_per_chunk: int = 4_000_000,
) -> Iterator[tuple[list[WaveformBlock], int]]:
    """Cut equal-length sources into blocks; yield groups of blocks and samples done.

    Parameters
    ----------
    targets
        Signal → its channel sources, each ``(n_samples,)`` or ``(n_samples, c)``.
    n_samples
        Length of every source.
    convert
        Turns a slice of a source into the block's samples (a copy).
    values_per_chunk
        Roughly how many values each yielded group holds.
    """
    block_n = layout.block_length(rate_hz, n_samples)
    width = sum(
        1 if src.ndim == 1 else int(src.shape[1]) for srcs in targets.values() for src in srcs
    )
    steps_per_group = max(1, values_per_chunk // max(1, block_n * max(width, 1)))
    group: list[WaveformBlock] = []
    ingest = now_ns()
    for steps, a in enumerate(range(0, n_samples, block_n), start=1):
        b = min(a + block_n, n_samples)
        t0 = layout.start_ns + offset_ns(a, rate_hz)
        for ref, sources in targets.items():
            parts = [convert(src[a:b]) for src in sources]
            if len(parts) == 1:
                data = parts[0]
                if data.ndim == 2 and data.shape[1] == 1:
                    data = data.reshape(-1)
            else:
                data = np.column_stack(parts)
            group.append(
                WaveformBlock(
                    ref,
                    t0,
                    rate_hz,
                    np.ascontiguousarray(data),
                    layout.unit_of(ref),
                    provenance[ref],
                    ingest_ns=ingest,
                )
            )
        if steps % steps_per_group == 0:
            yield group, b
            group = []
    if group:
        yield group, n_samples


def file_dead_letter(
    connector: str,
    path: Path,
    reason: str,
    *,
    category: str = "unreadable_file",
    location: str | None = None,
    payload: bytes | str = b"",
    **detail: Any,
) -> DeadLetter:
    """A dead letter for a whole file (or archive member) that could not be used."""
    return DeadLetter(
        source=connector,
        location=location or str(path),
        reason=reason,
        payload=payload,
        detail={"category": category, "file": str(path), **detail},
    )
