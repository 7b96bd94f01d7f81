"""A running shopfloor node (the embedded platform today; edge and central roles later)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.node.access import open_project_store, register_project_signals
    from shopfloor.node.backends import create_bus, create_store
    from shopfloor.node.lock import PlatformLock, read_lock
    from shopfloor.node.platform import (
        ApiFactory,
        ApiService,
        Platform,
        Service,
        ServiceFactory,
        StatusProvider,
    )
    from shopfloor.node.sink import SinkStats, StoreSink
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.node.access": ("open_project_store", "register_project_signals"),
            "shopfloor.node.backends": ("create_bus", "create_store"),
            "shopfloor.node.lock": ("PlatformLock", "read_lock"),
            "shopfloor.node.platform": (
                "ApiFactory",
                "ApiService",
                "Platform",
                "Service",
                "ServiceFactory",
                "StatusProvider",
            ),
            "shopfloor.node.sink": ("SinkStats", "StoreSink"),
        },
    )

__all__ = [
    "ApiFactory",
    "ApiService",
    "Platform",
    "PlatformLock",
    "Service",
    "ServiceFactory",
    "SinkStats",
    "StatusProvider",
    "StoreSink",
    "create_bus",
    "create_store",
    "open_project_store",
    "read_lock",
    "register_project_signals",
]
