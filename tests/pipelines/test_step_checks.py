"""Every registered step kind passes every step check (as River and scikit-learn do)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shopfloor.pipelines import STEP_KINDS
from shopfloor.testing.step_checks import STEP_CHECKS, STEP_EXAMPLES

CASES = [
    pytest.param(check, kind, params, id=f"{check.__name__}[{kind}-{i}]")
    for check in STEP_CHECKS
    for kind in STEP_KINDS
    for i, params in enumerate(STEP_EXAMPLES.get(kind, []))
]


def test_every_registered_step_kind_has_examples() -> None:
    assert set(STEP_KINDS) <= set(STEP_EXAMPLES), (
        f"step kinds without examples in STEP_EXAMPLES: {set(STEP_KINDS) - set(STEP_EXAMPLES)}"
    )


@pytest.mark.parametrize(("check", "kind", "params"), CASES)
def test_step_check(
    check: Callable[[str, dict[str, Any]], None], kind: str, params: dict[str, Any]
) -> None:
    check(kind, params)
