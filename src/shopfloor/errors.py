"""The one exception tree of shopfloor.

Every error the platform raises on purpose derives from :class:`ShopfloorError`, and
library errors are translated at the boundary with ``raise ... from err``, so callers
catch one tree and still see the cause::

    ShopfloorError
    ├── ConfigError          a project file or an option is wrong (CLI exit status 2)
    ├── RecordError          one record is malformed; it goes to the dead-letter table
    ├── StoreError           the store failed or refused an operation
    │   ├── StoreUnavailable the store cannot be reached now (retry later)
    │   └── StoreFailed      unusable until reopened: disk full, I/O error, invalidated
    ├── BusError             the bus failed or refused an operation
    │   ├── BusClosed        publishing or subscribing after close
    │   └── BusFull          a subscriber's queue stayed full for the publish timeout
    ├── ConnectorError       a connector failed talking to its source
    │   ├── ConnectorNotReady  not reachable now: the engine retries with backoff
    │   └── ConnectorAuthError credentials or certificates refused: retrying will not help
    ├── PipelineError        a pipeline is wrong or failed on data
    ├── ServiceError         a long-running part of the platform could not start or failed
    │   └── PortInUse        the address a server should listen on is taken (CLI exit status 3)
    └── ModelError           a model is wrong, not fitted, or does not match its pipeline
        └── NotFittedError   also a ValueError, as in scikit-learn

Messages name the input and the value: ``signal 'spindle_speed' on 'acme/...' has no
sample rate``, never only ``invalid value``.
"""

from __future__ import annotations

__all__ = [
    "BusClosed",
    "BusError",
    "BusFull",
    "ConfigError",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorNotReady",
    "ModelError",
    "NotFittedError",
    "PipelineError",
    "PortInUse",
    "RecordError",
    "ServiceError",
    "ShopfloorError",
    "StoreError",
    "StoreFailed",
    "StoreUnavailable",
]


class ShopfloorError(Exception):
    """Root of every error shopfloor raises on purpose."""


class ConfigError(ShopfloorError):
    """A project file, a setting or a command-line option is wrong.

    Parameters
    ----------
    message
        What is wrong, naming the input.
    issues
        One line per problem (``file:line: field.path: message``) when there are several.
    """

    def __init__(self, message: str, issues: list[str] | None = None) -> None:
        super().__init__(message)
        self.issues: list[str] = list(issues or [])

    def __str__(self) -> str:
        head = super().__str__()
        if not self.issues:
            return head
        return head + "\n" + "\n".join(f"  {issue}" for issue in self.issues)


class RecordError(ShopfloorError):
    """One record is malformed; the caller dead-letters it with this message as reason."""


class StoreError(ShopfloorError):
    """The store failed or refused an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the caller keeps the data and retries later."""


class StoreFailed(StoreError):
    """The store is unusable until reopened: disk full, I/O error, database invalidated.

    Retrying the same write will not help; closing and opening the store again may, once
    the cause is gone (space freed, device back). The platform keeps the data meanwhile.

    Parameters
    ----------
    message
        What failed, naming the store.
    reason
        The cause in plain words, for health displays (``disk full at /data/store.duckdb``).

    Examples
    --------
    >>> err = StoreFailed("write failed: No space left", reason="disk full at /d/s.duckdb")
    >>> err.reason
    'disk full at /d/s.duckdb'
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class BusError(ShopfloorError):
    """The bus failed or refused an operation."""


class BusClosed(BusError):
    """Publishing, subscribing or reading after the bus or subscription was closed."""


class BusFull(BusError):
    """A subscriber's queue stayed full for the whole publish timeout.

    The producer keeps the record (the connector engine diverts it to its journal).
    """


class ConnectorError(ShopfloorError):
    """A connector failed talking to its source."""


class ConnectorNotReady(ConnectorError):
    """The source cannot be reached now; the engine retries with backoff."""


class ConnectorAuthError(ConnectorError):
    """The source refused the credentials or certificate; retrying will not help."""


class PipelineError(ShopfloorError):
    """A pipeline specification is wrong or a step failed on its data."""


class ServiceError(ShopfloorError):
    """A long-running part of the platform (a server, the connector engine) failed."""


class PortInUse(ServiceError):
    """The address a server should listen on is taken by another process.

    Parameters
    ----------
    host, port
        The address that could not be bound.
    pid
        The process that listens there, when it can be found.

    Examples
    --------
    >>> str(PortInUse("127.0.0.1", 8000, pid=4242))
    'port 8000 on 127.0.0.1 is in use (pid 4242)'
    """

    def __init__(self, host: str, port: int, pid: int | None = None) -> None:
        owner = f"pid {pid}" if pid is not None else "by an unknown process"
        super().__init__(f"port {port} on {host} is in use ({owner})")
        self.host = host
        self.port = port
        self.pid = pid


class ModelError(ShopfloorError):
    """A model is wrong, not fitted, or does not match the pipeline it is fed by."""


class NotFittedError(ModelError, ValueError):
    """The model is used before it was fitted."""
