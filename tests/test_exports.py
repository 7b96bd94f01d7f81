"""Lazy package re-exports: same names for type checkers and at run time, imported on use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from shopfloor.exports import lazy_exports

SRC = Path(__file__).resolve().parent.parent / "src" / "shopfloor"


def _lazy_packages() -> list[Path]:
    return sorted(
        f for f in SRC.rglob("__init__.py") if "lazy_exports(" in f.read_text(encoding="utf-8")
    )


def _declared(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """(names imported under TYPE_CHECKING, names given to lazy_exports) -> module."""
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    typed = {
        a.asname or a.name: str(node.module)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    call = next(n for n in ast.walk(block) if isinstance(n, ast.Call))
    mapping = ast.literal_eval(call.args[1])
    lazy = {name: module for module, names in mapping.items() for name in names}
    return typed, lazy


@pytest.mark.parametrize("init", _lazy_packages(), ids=lambda p: str(p.parent.relative_to(SRC)))
def test_type_checking_imports_match_the_lazy_map(init: Path) -> None:
    tree = ast.parse(init.read_text(encoding="utf-8"))
    typed, lazy = _declared(tree)
    assert typed == lazy
    exported = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__"
    )
    assert set(lazy) <= set(exported)


def test_lazy_packages_exist() -> None:
    names = {str(p.parent.relative_to(SRC)) for p in _lazy_packages()}
    assert {"config", "pipelines", "model", "bus", "store", "node"} <= names


def test_a_name_is_imported_on_first_use_and_cached() -> None:
    probe = (
        "import sys, shopfloor.pipelines as p\n"
        "assert 'shopfloor.pipelines.history' not in sys.modules\n"
        "cls = p.HistoryReport\n"
        "assert 'shopfloor.pipelines.history' in sys.modules\n"
        "assert vars(p)['HistoryReport'] is cls\n"
        "assert 'HistoryReport' in dir(p)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def test_an_unknown_name_raises_attribute_error_naming_it() -> None:
    import shopfloor.bus

    with pytest.raises(AttributeError, match=r"'shopfloor.bus' has no attribute 'Nope'"):
        _ = shopfloor.bus.Nope  # type: ignore[attr-defined]


def test_a_name_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"export 'X' listed for both 'a' and 'b'"):
        lazy_exports("pkg", {"a": ("X",), "b": ("X",)})


def test_config_environment_is_the_function_after_its_module_is_imported() -> None:
    import shopfloor.config
    import shopfloor.config.environment

    assert callable(shopfloor.config.environment)
    assert not isinstance(shopfloor.config.environment, type(sys))
