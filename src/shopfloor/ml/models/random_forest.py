"""``random_forest``: scikit-learn's RandomForestClassifier, kept as ONNX.

Examples
--------
>>> import numpy as np
>>> x = np.r_[np.zeros((20, 1)), np.ones((20, 1))]
>>> model = RandomForestModel(n_estimators=10).fit(x, ["ok"] * 20 + ["worn"] * 20)
>>> model.predict(np.array([[0.0], [1.0]]))
['ok', 'worn']
"""

from __future__ import annotations

from typing import Any, ClassVar

from shopfloor.errors import ModelError
from shopfloor.ml.base import register_model
from shopfloor.ml.models.tree_classifier import TreeEnsembleClassifier

__all__ = ["RandomForestModel"]


@register_model
class RandomForestModel(TreeEnsembleClassifier):
    """A random forest (see :mod:`~shopfloor.ml.models.tree_classifier`).

    Parameters
    ----------
    n_estimators
        Number of trees.
    max_depth
        Depth limit of each tree (``None``: grow until pure).
    min_samples_leaf
        Fewest rows in a leaf.
    class_weight
        ``None`` or ``"balanced"`` (weights inverse to class frequency).
    random_state
        Seed: the same seed and data give the same forest.
    """

    model_type: ClassVar[str] = "random_forest"
    contract_params: ClassVar[dict[str, Any]] = {"n_estimators": 10}

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        class_weight: str | None = None,
        random_state: int = 0,
    ) -> None:
        if not isinstance(n_estimators, int) or n_estimators < 1:
            raise ModelError(
                f"random_forest: n_estimators must be an integer ≥ 1, got {n_estimators!r}"
            )
        if class_weight not in (None, "balanced"):
            raise ModelError(
                f"random_forest: class_weight must be None or 'balanced', got {class_weight!r}"
            )
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.class_weight = class_weight
        self.random_state = random_state

    def _estimator(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        # one job: a forest grown on several threads is still deterministic, but the
        # machine's cores belong to the platform
        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            class_weight=self.class_weight,
            random_state=self.random_state,
            n_jobs=1,
        )
