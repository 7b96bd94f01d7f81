"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists what it re-exports and from which module; the module is imported the
first time one of its names is asked for, so that importing ``shopfloor.config`` (or a
light submodule such as ``shopfloor.pipelines.config``) does not import scipy, DuckDB or
asyncua through a sibling. The package keeps the same imports under ``TYPE_CHECKING`` so
that type checkers and readers still see every name.

Examples
--------
In a package ``__init__``::

    if TYPE_CHECKING:
        from shopfloor.bus.memory import MemoryBus
    else:
        __getattr__, __dir__ = lazy_exports(__name__, {"shopfloor.bus.memory": ("MemoryBus",)})

>>> getattr_, dir_ = lazy_exports("shopfloor", {"shopfloor.errors": ("ConfigError",)})
>>> getattr_("ConfigError").__name__
'ConfigError'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Build a package's ``__getattr__`` and ``__dir__`` for names imported on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : Mapping[str, Sequence[str]]
        Absolute module name -> the names the package re-exports from it.

    Returns
    -------
    tuple of callable
        ``(__getattr__, __dir__)`` to bind at the package's top level. ``__getattr__``
        imports the module, caches the name in the package and returns it; an unknown
        name raises :class:`AttributeError` naming the package and the name.

    Raises
    ------
    ValueError
        If one name is listed for two modules.
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in where:
                raise ValueError(
                    f"{package}: export {name!r} listed for both {where[name]!r} and {module!r}"
                )
            where[name] = module

    def get_export(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def list_names() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return get_export, list_names
