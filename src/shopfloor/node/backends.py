"""Which store and which bus a platform runs on, picked from the project's configuration.

The platform itself only knows the :class:`~shopfloor.store.Store` and
:class:`~shopfloor.bus.Bus` protocols; a new backend (PostgreSQL, MQTT) is one entry in
the tables below, and the platform does not change.
"""

from __future__ import annotations

from collections.abc import Callable

from shopfloor.bus import Bus, BusConfig, MemoryBus
from shopfloor.config import Project
from shopfloor.errors import ConfigError
from shopfloor.store import DuckDBStore, Store

__all__ = ["BUS_BACKENDS", "STORE_BACKENDS", "create_bus", "create_store"]


def _duckdb(project: Project) -> Store:
    return DuckDBStore(project.store_path, project.config.store)


def _memory_bus(config: BusConfig) -> Bus:
    return MemoryBus(default_maxsize=config.queue_size, default_max_bytes=config.queue_bytes)


STORE_BACKENDS: dict[str, Callable[[Project], Store]] = {"duckdb": _duckdb}
BUS_BACKENDS: dict[str, Callable[[BusConfig], Bus]] = {"memory": _memory_bus}


def create_store(project: Project) -> Store:
    """The store the project's ``store:`` section asks for (not opened yet).

    Raises
    ------
    ConfigError
        When ``store.backend`` names no known backend.
    """
    backend = project.config.store.backend
    try:
        build = STORE_BACKENDS[backend]
    except KeyError:
        raise ConfigError(
            f"store.backend {backend!r} in {project.file} is not supported "
            f"(supported: {', '.join(sorted(STORE_BACKENDS))})"
        ) from None
    return build(project)


def create_bus(config: BusConfig) -> Bus:
    """The bus the ``bus:`` section ``config`` asks for (not started yet).

    Raises
    ------
    ConfigError
        When ``bus.backend`` names no known backend.
    """
    try:
        build = BUS_BACKENDS[config.backend]
    except KeyError:
        raise ConfigError(
            f"bus.backend {config.backend!r} is not supported "
            f"(supported: {', '.join(sorted(BUS_BACKENDS))})"
        ) from None
    return build(config)
