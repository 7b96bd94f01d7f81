r"""Scores to what a technician reads: thresholds, a state and a health index 0–100.

Thresholds are set on held-back healthy windows (the calibration part of a dataset,
never the windows the model learned from) as quantiles of their scores: by default the
``warning`` threshold is the 99th percentile and ``alarm`` the 99.9th, i.e. about 1 in
100 and 1 in 1,000 healthy windows would cross them. With few calibration windows a high
quantile is no more than their largest score; the card records how many there were.

Each window's state is ``unknown`` (score NaN: a regime the baseline did not cover, or no
finite input), ``alarm`` (score ≥ alarm), ``warning`` (≥ warning) or ``normal``, window by
window (persistence over several windows is a deployment's concern).

The health index is piecewise linear in the score:

.. math::

    H(s) = \mathrm{interp}(s;\ [r, w, a, 2a - r] \to [100, 60, 30, 0])

with :math:`r` the median healthy calibration score, :math:`w` the warning and :math:`a`
the alarm threshold: 100 as healthy as the baseline, 60 at warning, 30 at alarm, 0 far
beyond; NaN for unknown.

Examples
--------
>>> import numpy as np
>>> t = Thresholds.from_quantiles(np.arange(1000.0))
>>> t.states(np.array([10.0, 995.0, 2000.0, np.nan]))
['normal', 'warning', 'alarm', 'unknown']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError

__all__ = ["Thresholds"]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Thresholds:
    """Warning and alarm thresholds of a score, and the healthy reference."""

    warning: float
    alarm: float
    reference: float
    method: str = "quantile"
    warning_quantile: float | None = None
    alarm_quantile: float | None = None
    windows: int = 0

    @classmethod
    def from_quantiles(
        cls, scores: Floats, *, warning_q: float = 0.99, alarm_q: float = 0.999
    ) -> Thresholds:
        """Quantiles of healthy scores (NaN scores are left out).

        Raises
        ------
        ModelError
            When no score is finite, or the quantiles are not ``0 < warning < alarm ≤ 1``.
        """
        if not 0 < warning_q < alarm_q <= 1:
            raise ModelError(
                f"calibration quantiles warning={warning_q} alarm={alarm_q}: "
                "need 0 < warning < alarm ≤ 1"
            )
        finite = np.asarray(scores, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            raise ModelError("calibration: no healthy window has a finite score")
        warning, alarm, reference = np.quantile(finite, [warning_q, alarm_q, 0.5])
        alarm = max(float(alarm), float(warning))
        return cls(
            warning=float(warning),
            alarm=float(alarm),
            reference=float(reference),
            method="quantile",
            warning_quantile=warning_q,
            alarm_quantile=alarm_q,
            windows=int(finite.size),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Read :meth:`as_dict` (a model card's ``calibration``)."""
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as err:
            raise ModelError(f"calibration {data!r} is not a set of thresholds: {err}") from err

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return asdict(self)

    def states(self, scores: Floats) -> list[str]:
        """``normal``, ``warning``, ``alarm`` or ``unknown`` per score."""
        s = np.asarray(scores, dtype=np.float64)
        out = np.full(s.shape, "normal", dtype=object)
        out[s >= self.warning] = "warning"
        out[s >= self.alarm] = "alarm"
        out[~np.isfinite(s)] = "unknown"
        return [str(v) for v in out]

    def health_index(self, scores: Floats) -> Floats:
        """0–100 per score (100 healthy), NaN when the score is unknown."""
        s = np.asarray(scores, dtype=np.float64)
        r = self.reference
        w = max(self.warning, r + 1e-12)
        a = max(self.alarm, w + 1e-12)
        far = a + (a - r)
        h = np.interp(s, [r, w, a, far], [100.0, 60.0, 30.0, 0.0])
        return np.where(np.isfinite(s), np.round(h, 3), np.nan)
