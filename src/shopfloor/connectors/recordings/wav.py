"""WAV recordings: multi-channel PCM or float, the sample rate from the header.

Read with :func:`scipy.io.wavfile.read`, memory-mapped where the bit depth allows it (8, 16,
32, 64 bit), so a long file is converted one chunk of blocks at a time; 24-bit files are
read whole (scipy cannot map them). Integer samples are scaled to full scale ±1.0
(scipy returns them left-justified, so the full scale follows from the dtype), then
multiplied by the ``scale`` option (the physical value at full scale, e.g. 50 for a ±50 g
accelerometer channel). Float files are taken as they are, times ``scale``.

Channels are named ``1``, ``2``, ... in the file's order; ``*`` maps them all.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.io import wavfile

from shopfloor.connectors.recordings.base import Chunk
from shopfloor.connectors.recordings.blocks import (
    BlockLayout,
    Convert,
    block_layout,
    cut_blocks,
    file_dead_letter,
)
from shopfloor.connectors.recordings.sources import SourceMap
from shopfloor.errors import ConfigError
from shopfloor.model import Provenance, SignalRef

__all__ = ["WavReader", "open_wav"]

log = logging.getLogger(__name__)


def full_scale(dtype: np.dtype[Any]) -> tuple[float, float]:
    """``(offset, full scale)`` of integer samples of ``dtype``: ``(x - offset) / scale``.

    Examples
    --------
    >>> full_scale(np.dtype("int16")), full_scale(np.dtype("uint8"))
    ((0.0, 32768.0), (128.0, 128.0))
    """
    if dtype.kind == "u":
        half = float(2 ** (dtype.itemsize * 8 - 1))
        return half, half
    if dtype.kind == "i":
        return 0.0, float(2 ** (dtype.itemsize * 8 - 1))
    return 0.0, 1.0


class WavReader:
    """Read a WAV file into waveform blocks.

    Parameters
    ----------
    path
        The ``.wav`` file.
    columns
        Channel (``1``, ``2``, ..., ``*`` for all) → signal; see
        :mod:`~shopfloor.connectors.recordings.sources`.
    layout
        Start time, block length, scale; ``rate_hz`` overrides the header when given.
    connector
        Name recorded in provenance.
    """

    def __init__(
        self,
        path: str | Path,
        columns: Mapping[str, SignalRef],
        layout: BlockLayout,
        *,
        connector: str = "ingest",
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no such file")
        self.sources = SourceMap(columns)
        self.layout = layout
        self.connector = connector
        self.total = self.path.stat().st_size
        self._loaded: tuple[int, npt.NDArray[Any]] | None = None
        self._error: str | None = None

    @property
    def sample_rate_hz(self) -> float | None:
        """The rate blocks get: the ``rate_hz`` option, else the header's (None if unreadable)."""
        if self.layout.rate_hz is not None:
            return self.layout.rate_hz
        loaded = self._load()
        return None if loaded is None else float(loaded[0])

    def _load(self) -> tuple[int, npt.NDArray[Any]] | None:
        if self._loaded is not None or self._error is not None:
            return self._loaded
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    rate, data = wavfile.read(self.path, mmap=True)
                except ValueError:
                    rate, data = wavfile.read(self.path, mmap=False)
        except Exception as err:  # scipy's parser fails in many ways on a bad file
            self._error = f"not a readable WAV file: {type(err).__name__}: {err}"
            return None
        for warning in caught:
            log.debug("wav.warning file=%s message=%s", self.path, warning.message)
        if data.dtype.kind not in "iuf":
            self._error = f"WAV samples of dtype {data.dtype} are not numbers"
            return None
        if rate <= 0:
            self._error = f"WAV header gives a sample rate of {rate} Hz"
            return None
        self._loaded = (int(rate), data)
        return self._loaded

    def _converter(self, dtype: np.dtype[Any]) -> Convert:
        offset, scale = full_scale(dtype)
        factor = self.layout.scale / scale
        exact32 = dtype.itemsize <= 2 or dtype == np.dtype(np.float32)
        out: type[np.floating[Any]] = np.float32 if exact32 else np.float64

        def convert(part: npt.NDArray[Any]) -> npt.NDArray[Any]:
            values = np.asarray(part, dtype=out)
            if offset:
                values = values - out(offset)
            return np.multiply(values, out(factor), dtype=out)

        return convert

    def chunks(self) -> Iterator[Chunk]:
        """Read the file block by block."""
        loaded = self._load()
        if loaded is None:
            letter = file_dead_letter(self.connector, self.path, self._error or "unreadable")
            yield Chunk(rejected=[letter], rows=1, progress=self.total)
            return
        header_rate, data = loaded
        rate = self.layout.rate_hz or float(header_rate)
        frames = data if data.ndim == 2 else data.reshape(-1, 1)
        names = [str(i + 1) for i in range(frames.shape[1])]
        matched, problems = self.sources.resolve(names, what="channel")
        if problems:
            letter = file_dead_letter(
                self.connector,
                self.path,
                "; ".join(problems),
                category="unmapped_source",
                channels=len(names),
            )
            yield Chunk(rejected=[letter], rows=1, progress=self.total)
            return
        n = int(frames.shape[0])
        if n == 0:
            letter = file_dead_letter(self.connector, self.path, "the WAV file holds no samples")
            yield Chunk(rejected=[letter], rows=1, progress=self.total)
            return
        targets = {
            ref: [frames[:, int(name) - 1] for name in chosen] for ref, chosen in matched.items()
        }
        provenance = {
            ref: Provenance(self.connector, f"{self.path}#{','.join(chosen)}")
            for ref, chosen in matched.items()
        }
        for blocks, done in cut_blocks(
            targets,
            n,
            layout=self.layout,
            rate_hz=rate,
            provenance=provenance,
            convert=self._converter(data.dtype),
        ):
            steps = len(blocks) // max(len(targets), 1)
            yield Chunk(records=list(blocks), rows=steps, progress=self.total * done // n)
        self._loaded = None  # release the memory map


def open_wav(
    path: Path, columns: Mapping[str, SignalRef], options: Mapping[str, Any], connector: str
) -> WavReader:
    """Open a WAV recording (options: start, rate_hz, block_s, scale, unit)."""
    layout = block_layout("wav", options, rate_required=False)
    return WavReader(path, columns, layout, connector=connector)
