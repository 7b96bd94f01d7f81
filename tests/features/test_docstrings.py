"""Every ``Examples`` section of the feature library runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import shopfloor.features

MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(shopfloor.features.__path__, "shopfloor.features.")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(
        module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0


def test_all_names_exist_and_are_documented():
    for name in shopfloor.features.__all__:
        obj = getattr(shopfloor.features, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"
