"""Layers import only downward (the import-linter contract in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_imports_a_layer_above_it() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports (import-linter) is not installed in this environment")
    done = subprocess.run(
        [exe, str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_public_name_exists() -> None:
    import importlib
    import pkgutil

    import shopfloor

    for module in pkgutil.walk_packages(shopfloor.__path__, "shopfloor."):
        if module.name.endswith("__main__"):
            continue
        mod = importlib.import_module(module.name)
        for name in getattr(mod, "__all__", []):
            assert hasattr(mod, name), f"{module.name}.__all__ names {name!r}, which is missing"


def test_layers_follow_style_order_without_exceptions() -> None:
    """The contract lists STYLE.md's layers in its order and ignores no import."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")
    assert not layers.get("ignore_imports"), "the layers contract must not be bent"
    assert layers["layers"] == [
        "shopfloor.cli",
        "shopfloor.testing",
        "shopfloor.api | (shopfloor.studio)",
        "shopfloor.node : shopfloor.services",
        "shopfloor.config",
        "shopfloor.runtime",
        "shopfloor.ml",
        "shopfloor.connectors : shopfloor.features : shopfloor.pipelines",
        "shopfloor.store | shopfloor.bus",
        "shopfloor.sim",
        "shopfloor.model",
        "shopfloor.errors | shopfloor.retry | shopfloor.exports",
    ]
