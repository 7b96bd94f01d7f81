"""A running shopfloor node (the embedded platform today; edge and central roles later)."""

from shopfloor.node.access import open_project_store, register_project_signals
from shopfloor.node.lock import PlatformLock, read_lock
from shopfloor.node.platform import Platform, Service

__all__ = [
    "Platform",
    "PlatformLock",
    "Service",
    "open_project_store",
    "read_lock",
    "register_project_signals",
]
