"""The binary layout of a waveform block in one MQTT message (little-endian).

=======  =====  =========  ========================================================
offset   bytes  type       field
=======  =====  =========  ========================================================
0        4      bytes      magic ``SFWB``
4        2      uint16     version: 1
6        2      uint16     header length in bytes: 40 (samples start there)
8        8      float64    sample rate in Hz (finite, > 0)
16       8      int64      t0: time of the first sample, UTC ns since 1970
24       4      uint32     count: samples per channel (≥ 1)
28       2      uint16     channels (≥ 1)
30       1      uint8      dtype: 1 int16, 2 int32, 3 float32, 4 float64, 5 uint16
31       1      uint8      reserved: 0
32       8      float64    scale: value = raw × scale (1.0 for floats)
40       …      dtype      count × channels samples, interleaved by sample
                           (sample 0 of every channel, then sample 1, …)
=======  =====  =========  ========================================================

A reader accepts a header longer than 40 bytes (a later version's extra fields) and
skips it. The message must end exactly after the last sample: a shorter one is
truncated, a longer one has trailing bytes, and both are refused.

Examples
--------
>>> import numpy as np
>>> data = encode_waveform(np.arange(6.0).reshape(3, 2), sample_rate_hz=1000.0, t0_ns=5)
>>> len(data)
88
>>> block = decode_waveform(data)
>>> block.sample_rate_hz, block.t0_ns, block.data.shape
(1000.0, 5, (3, 2))
>>> decode_waveform(data[:-1])
Traceback (most recent call last):
...
shopfloor.connectors.mqtt.waveform.WaveformDecodeError: waveform block truncated: 87 bytes, \
the header announces 88 (3 samples × 2 channels of float64)
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import PayloadRejected

__all__ = [
    "DTYPE_CODES",
    "HEADER",
    "MAGIC",
    "VERSION",
    "DecodedWaveform",
    "WaveformDecodeError",
    "decode_waveform",
    "encode_waveform",
]

MAGIC = b"SFWB"
VERSION = 1
HEADER = struct.Struct("<4sHHdqIHBBd")
"""The version-1 header: magic, version, header length, rate, t0, count, channels, dtype,
reserved, scale."""

DTYPE_CODES: dict[int, np.dtype[Any]] = {
    1: np.dtype("<i2"),
    2: np.dtype("<i4"),
    3: np.dtype("<f4"),
    4: np.dtype("<f8"),
    5: np.dtype("<u2"),
}
"""Sample type by its code in the header."""
_CODE_OF = {dtype: code for code, dtype in DTYPE_CODES.items()}


class WaveformDecodeError(PayloadRejected):
    """The bytes are not a whole waveform block of this layout.

    Its category is ``truncated_waveform`` when they end early, ``bad_waveform`` otherwise.
    """

    def __init__(self, message: str, category: str = "bad_waveform") -> None:
        super().__init__(message, category)


@dataclass(frozen=True)
class DecodedWaveform:
    """A decoded block: float64 samples ``(count,)`` or ``(count, channels)`` and timing."""

    sample_rate_hz: float
    t0_ns: int
    data: npt.NDArray[np.float64]


def encode_waveform(
    data: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    t0_ns: int,
    dtype: str = "float64",
    scale: float = 1.0,
) -> bytes:
    """The bytes of a block: ``data`` is ``(count,)`` or ``(count, channels)``.

    With an integer ``dtype``, ``data`` holds the raw integers and ``scale`` turns them
    into values when decoded.
    """
    array = np.asarray(data)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"data must be (count,) or (count, channels), got {array.shape}")
    wire = np.dtype(dtype).newbyteorder("<")
    if wire not in _CODE_OF:
        raise ValueError(
            f"dtype {dtype!r} has no code (use {', '.join(map(str, DTYPE_CODES.values()))})"
        )
    header = HEADER.pack(
        MAGIC,
        VERSION,
        HEADER.size,
        float(sample_rate_hz),
        int(t0_ns),
        array.shape[0],
        array.shape[1],
        _CODE_OF[wire],
        0,
        float(scale),
    )
    return header + np.ascontiguousarray(array, dtype=wire).tobytes()


def decode_waveform(payload: bytes) -> DecodedWaveform:
    """Decode a block.

    Raises
    ------
    WaveformDecodeError
        Too short for the header, another magic or version, an unknown dtype, no
        samples or channels, a rate or scale that is not a positive finite number, or a
        length other than the header announces (truncated or trailing bytes).
    """
    if len(payload) < HEADER.size:
        raise WaveformDecodeError(
            f"waveform block truncated: {len(payload)} bytes, shorter than the "
            f"{HEADER.size}-byte header",
            "truncated_waveform",
        )
    magic, version, header_len, rate, t0_ns, count, channels, code, _, scale = HEADER.unpack_from(
        payload
    )
    if magic != MAGIC:
        raise WaveformDecodeError(
            f"not a waveform block: starts {bytes(payload[:4])!r}, expected {MAGIC!r}"
        )
    if version != VERSION:
        raise WaveformDecodeError(f"waveform block version {version}; this reader takes {VERSION}")
    if header_len < HEADER.size:
        raise WaveformDecodeError(
            f"waveform header length {header_len} is shorter than {HEADER.size}"
        )
    dtype = DTYPE_CODES.get(code)
    if dtype is None:
        known = ", ".join(f"{c} {d.name}" for c, d in DTYPE_CODES.items())
        raise WaveformDecodeError(f"waveform dtype code {code} is unknown ({known})")
    if count < 1 or channels < 1:
        raise WaveformDecodeError(
            f"waveform block with {count} samples × {channels} channels holds nothing"
        )
    if not (math.isfinite(rate) and rate > 0):
        raise WaveformDecodeError(f"waveform sample rate {rate} Hz is not a positive number")
    if not (math.isfinite(scale) and scale != 0):
        raise WaveformDecodeError(f"waveform scale {scale} is not a finite non-zero number")
    expected = header_len + count * channels * dtype.itemsize
    if len(payload) != expected:
        short = len(payload) < expected
        raise WaveformDecodeError(
            f"waveform block {'truncated' if short else 'has trailing bytes'}: "
            f"{len(payload)} bytes, the header announces {expected} ({count} samples × "
            f"{channels} channels of {dtype.name})",
            "truncated_waveform" if short else "bad_waveform",
        )
    raw = np.frombuffer(payload, dtype=dtype, count=count * channels, offset=header_len)
    values = raw.astype(np.float64)
    if scale != 1.0:
        values *= scale
    samples = values.reshape(count, channels)
    return DecodedWaveform(
        float(rate), int(t0_ns), samples[:, 0].copy() if channels == 1 else samples
    )
