"""Counter-based random numbers: pure functions of integer keys.

The simulator's state must be a pure function of (seed, time), so random quantities that
outlive one block (the jitter of one bearing impact, the spindle angle of one cycle, the
noise of one scalar sample) are drawn by hashing their keys with splitmix64 instead of
from a stateful generator. Everything is vectorized over numpy arrays.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["hash_keys", "normal", "uniform"]

U64: TypeAlias = npt.NDArray[np.uint64]
F64: TypeAlias = npt.NDArray[np.float64]
Keys: TypeAlias = int | npt.NDArray[np.integer]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_53 = float(2**53)


def _mix(z: U64) -> U64:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _as_u64(key: Keys) -> U64:
    arr = np.atleast_1d(np.asarray(key))
    if arr.dtype == np.uint64:
        return arr.astype(np.uint64, copy=False)
    return arr.astype(np.int64).view(np.uint64)


def hash_keys(*keys: Keys) -> U64:
    """Hash integer keys (broadcast together) into well-mixed 64-bit values.

    Always returns an array of at least one dimension (uint64 arithmetic on arrays wraps
    silently, as splitmix64 needs).

    Examples
    --------
    >>> int(hash_keys(1, 2)[0]) == int(hash_keys(1, 2)[0])
    True
    >>> int(hash_keys(1, 2)[0]) != int(hash_keys(2, 1)[0])
    True
    """
    arrays = np.broadcast_arrays(*(_as_u64(k) for k in keys))
    h = np.zeros(arrays[0].shape, dtype=np.uint64)
    for arr in arrays:
        h = _mix(h ^ (arr + _GOLDEN))
    return h


def uniform(*keys: Keys) -> F64:
    """Uniform numbers in [0, 1), one per broadcast key."""
    return (hash_keys(*keys) >> np.uint64(11)).astype(np.float64) / _TWO_POW_53


def normal(*keys: Keys) -> F64:
    """Standard normal numbers (Box-Muller), one per broadcast key."""
    u1 = uniform(*keys, 0x5EED_0001)
    u2 = uniform(*keys, 0x5EED_0002)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
