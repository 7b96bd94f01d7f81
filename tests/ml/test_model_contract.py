"""Every registered model type passes every contract check (as River and scikit-learn do)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import shopfloor.ml.models  # noqa: F401  (registers the built-in types)
from shopfloor.ml.base import MODEL_TYPES
from shopfloor.testing.model_checks import MODEL_CHECKS, check_model, model_checks

CASES = [
    pytest.param(check, model_type, id=f"{check.__name__}[{model_type}]")
    for model_type in sorted(MODEL_TYPES)
    for check in model_checks(model_type)
]


@pytest.mark.parametrize(("check", "model_type"), CASES)
def test_model_check(check: Callable[[str], None], model_type: str) -> None:
    check(model_type)


def test_every_exemption_has_a_reason() -> None:
    names = {check.__name__ for check in MODEL_CHECKS}
    for model_type, cls in MODEL_TYPES.items():
        for check, reason in cls.contract_exemptions.items():
            assert check in names, f"{model_type} exempts unknown check {check!r}"
            assert reason.strip(), f"{model_type} exempts {check!r} without a reason"


def test_built_in_types_are_registered() -> None:
    assert {
        "robust_zscore",
        "pca",
        "isolation_forest",
        "gmm",
        "river_drift",
        "gradient_boosting",
        "random_forest",
    } <= set(MODEL_TYPES)


def test_check_model_runs_all_checks_on_one_type() -> None:
    check_model("robust_zscore")
