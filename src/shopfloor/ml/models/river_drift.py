r"""``river_drift``: River's Half-Space Trees, an online detector for slow drift.

Inputs are robust per-regime z-scores, mapped to the unit cube Half-Space Trees work in,

.. math::

    u_{ij} = \operatorname{clip}\left(\tfrac{1}{2} + \tfrac{z_{ij}}{2 c}, 0, 1\right)

with :math:`c` = ``z_range`` (missing values become :math:`u = 1/2`, the median). The
trees learn the mass profile of the baseline window by window (``learn_one``); a window
scores River's ``score_one`` in [0, 1]: the share of the baseline mass that is missing
around the point (higher is more anomalous). A slow drift moves points into ever emptier
half-spaces, so the score climbs steadily, where a threshold on one feature stays quiet.

Artifact: River models are plain Python objects that only pickle; instead the artifact
stores the mapped baseline (float64, in the order learned) and the seed, and loading
replays ``learn_one`` over it. Half-Space Trees are deterministic given the seed and the
sequence, so the rebuilt trees, and their scores, are identical. The baseline is thus
part of the artifact (rows × features floats).

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(300, 2))
>>> model = RiverDriftModel(window_size=100).fit(x)
>>> bool(model.score(np.array([[6.0, 6.0]]))[0] > model.score(np.array([[0.0, 0.0]]))[0])
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.base import FloatMatrix, register_model
from shopfloor.ml.models.scaled import ScaledAnomalyModel

__all__ = ["RiverDriftModel"]


@register_model
class RiverDriftModel(ScaledAnomalyModel):
    """Half-Space Trees (River) over robust z-scores mapped to [0, 1].

    Parameters
    ----------
    n_trees
        Number of half-space trees.
    height
        Depth of each tree.
    window_size
        Rows per reference window; a baseline shorter than this uses its own length.
    z_range
        ``|z|`` mapped to the edge of the unit cube; beyond it all points look alike.
    random_state
        Seed of the random half-space splits.
    """

    model_type: ClassVar[str] = "river_drift"
    contract_params: ClassVar[dict[str, Any]] = {"n_trees": 5, "height": 6, "window_size": 50}

    baseline_: npt.NDArray[np.float64]
    trees_: Any

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        z_range: float = 8.0,
        random_state: int = 0,
    ) -> None:
        for name, value in (("n_trees", n_trees), ("height", height), ("window_size", window_size)):
            if not isinstance(value, int) or value < 1:
                raise ModelError(f"river_drift: {name} must be an integer ≥ 1, got {value!r}")
        if not z_range > 0:
            raise ModelError(f"river_drift: z_range must be > 0, got {z_range!r}")
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.z_range = z_range
        self.random_state = random_state

    def _unit(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        unit: npt.NDArray[np.float64] = np.clip(0.5 + z / (2.0 * self.z_range), 0.0, 1.0)
        return unit

    def _learn(self, baseline: npt.NDArray[np.float64]) -> Any:
        from river.anomaly import HalfSpaceTrees

        trees: Any = HalfSpaceTrees(
            n_trees=self.n_trees,
            height=self.height,
            window_size=min(self.window_size, baseline.shape[0]),
            seed=self.random_state,
        )
        names = self.feature_names_in_
        for row in baseline.tolist():
            trees.learn_one(dict(zip(names, row, strict=True)))
        return trees

    def _fit_z(self, z: FloatMatrix) -> None:
        """Learn the baseline's mass profile, row by row in the given order."""
        self.baseline_ = self._unit(z)
        self.trees_ = self._learn(self.baseline_)

    def _score_z(self, z: FloatMatrix) -> npt.NDArray[np.float64]:
        """River's ``score_one`` of each row (the trees do not learn while scoring)."""
        names = self.feature_names_in_
        # River scores one dict at a time; there is no batch scoring to call instead
        score = [
            float(self.trees_.score_one(dict(zip(names, row, strict=True))))
            for row in self._unit(z).tolist()
        ]
        return np.asarray(score, dtype=np.float64)

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The mapped baseline (the trees are replayed from it with the same seed)."""
        return {"baseline": self.baseline_}

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.baseline_ = np.asarray(arrays["baseline"], dtype=np.float64)
        self.trees_ = self._learn(self.baseline_)
