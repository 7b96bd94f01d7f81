"""A running shopfloor node (the embedded platform today; edge and central roles later)."""

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
