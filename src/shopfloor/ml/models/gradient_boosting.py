"""``gradient_boosting``: scikit-learn's GradientBoostingClassifier, kept as ONNX.

Examples
--------
>>> import numpy as np
>>> x = np.r_[np.zeros((20, 1)), np.ones((20, 1))]
>>> model = GradientBoostingModel(n_estimators=10).fit(x, ["ok"] * 20 + ["worn"] * 20)
>>> model.predict(np.array([[0.0], [1.0]]))
['ok', 'worn']
"""

from __future__ import annotations

from typing import Any, ClassVar

from shopfloor.errors import ModelError
from shopfloor.ml.base import register_model
from shopfloor.ml.models.tree_classifier import TreeEnsembleClassifier

__all__ = ["GradientBoostingModel"]


@register_model
class GradientBoostingModel(TreeEnsembleClassifier):
    """Gradient-boosted trees (see :mod:`~shopfloor.ml.models.tree_classifier`).

    Parameters
    ----------
    n_estimators
        Boosting stages.
    learning_rate
        Shrinkage of each stage.
    max_depth
        Depth of each tree.
    subsample
        Fraction of rows each stage sees (< 1: stochastic boosting).
    random_state
        Seed: the same seed and data give the same model.
    """

    model_type: ClassVar[str] = "gradient_boosting"
    contract_params: ClassVar[dict[str, Any]] = {"n_estimators": 20}

    def __init__(
        self,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        max_depth: int = 3,
        subsample: float = 1.0,
        random_state: int = 0,
    ) -> None:
        if not isinstance(n_estimators, int) or n_estimators < 1:
            raise ModelError(
                f"gradient_boosting: n_estimators must be an integer ≥ 1, got {n_estimators!r}"
            )
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.random_state = random_state

    def _estimator(self) -> Any:
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            random_state=self.random_state,
        )
