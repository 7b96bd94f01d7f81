"""Data quality, as OPC UA defines it: good, uncertain or bad, plus the raw status code."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = ["Quality", "quality_from_status_codes"]


class Quality(IntEnum):
    """Quality of one value; stored as an unsigned byte."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2

    @classmethod
    def from_status_code(cls, code: int) -> Quality:
        """Map an OPC UA status code to its severity (the two top bits).

        Examples
        --------
        >>> Quality.from_status_code(0x00000000)
        <Quality.GOOD: 0>
        >>> Quality.from_status_code(0x408F0000)  # UncertainDataSubNormal
        <Quality.UNCERTAIN: 1>
        >>> Quality.from_status_code(0x80340000)  # BadNodeIdUnknown
        <Quality.BAD: 2>
        """
        severity = (int(code) >> 30) & 0b11
        if severity == 0:
            return cls.GOOD
        if severity == 1:
            return cls.UNCERTAIN
        return cls.BAD


def quality_from_status_codes(codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    """Vectorized :meth:`Quality.from_status_code` over an array of status codes."""
    severity = (codes.astype(np.uint32) >> np.uint32(30)) & np.uint32(0b11)
    out: npt.NDArray[np.uint8] = np.minimum(severity, 2).astype(np.uint8)
    return out
