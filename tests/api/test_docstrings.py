"""Every ``Examples`` section of the API modules and the error table runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "shopfloor.errors",
    "shopfloor.config.api",
    "shopfloor.api.app",
    "shopfloor.api.audit",
    "shopfloor.api.forms",
    "shopfloor.api.security",
    "shopfloor.api.tokens",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_examples_run(module_name: str) -> None:
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.failed == 0
