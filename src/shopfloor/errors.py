"""The one exception tree of shopfloor.

Every error the platform raises on purpose derives from :class:`ShopfloorError`, and
library errors are translated at the boundary with ``raise ... from err``, so callers
catch one tree and still see the cause::

    ShopfloorError
    ├── ConfigError          a project file or an option is wrong (CLI exit status 2)
    ├── RecordError          one record is malformed; it goes to the dead-letter table
    │   └── ImageRejected    an image is refused (truncated or corrupt: 422)
    │       ├── NotAnImage       the bytes are no image of an accepted format (415)
    │       └── ImageTooLarge    the image exceeds the size limit (413)
    ├── StoreError           the store failed or refused an operation
    │   ├── StoreUnavailable the store cannot be reached now (retry later)
    │   │   └── StoreLocked  another process owns the store file
    │   ├── UnknownSignal    also a LookupError: the signal is not declared
    │   ├── SignalKindMismatch  also a ValueError: a scalar read of a waveform, a kind change
    │   ├── StoreReadOnly    a write to a store opened read-only
    │   └── StoreFailed      the database is unusable until reopened; no record is at fault
    │       ├── StoreDiskFull    no space left where the store writes
    │       └── StoreOutOfMemory the store's memory limit was hit even with spilling
    ├── BusError             the bus failed or refused an operation
    │   ├── BusClosed        publishing or subscribing after close
    │   └── BusFull          a subscriber's queue stayed full for the publish timeout
    ├── ConnectorError       a connector failed talking to its source
    │   ├── ConnectorNotReady  not reachable now: the engine retries with backoff
    │   ├── ConnectorAuthError credentials or certificates refused: retrying will not help
    │   └── WriteError       a write-back to a source failed now (retried with backoff)
    │       ├── WriteRefused     also a ValueError: it fails again as is (the value does not
    │       │                    fit the node's type or range, the node is not writable)
    │       └── WriteNotVerified the value read back differs from the value written
    ├── PipelineError        a pipeline is wrong or failed on data
    │   └── PipelineConfigError  its specification is wrong (also a ConfigError: exit 2)
    ├── ServiceError         a long-running part of the platform could not start or failed
    │   └── PortInUse        the address a server should listen on is taken (CLI exit status 3)
    ├── ModelError           a model is wrong, not fitted, or does not match its pipeline
    │   └── NotFittedError   also a ValueError, as in scikit-learn
    ├── NotifierError        a notification was not delivered now (retried with backoff)
    │   └── NotificationRefused  the receiver refused it for good (a 4xx, bad credentials)
    ├── DeploymentError      a deployment cannot be found, made or changed as asked
    │   ├── DeploymentNotFound   also a LookupError: no such deployment
    │   └── DeploymentRefused    also a ModelError: the model does not fit the live signals
    ├── AlertError           an alert cannot be found or changed as asked
    │   ├── AlertNotFound        also a LookupError: no alert with that id
    │   └── AlertTransitionError also a ValueError: the change does not apply to its state
    └── ApiError             the HTTP API refused a request before it reached the platform
        ├── AuthenticationRequired  no token, or an unknown or revoked one (401)
        ├── PermissionDenied        the token's role may not do this (403)
        ├── HostNotAllowed          the Host header is not in the allow-list (400)
        ├── PayloadTooLarge         the request body exceeds the limit (413)
        └── UnsupportedMediaType    a write that is neither JSON nor Arrow IPC (415)

Messages name the input and the value: ``signal 'spindle_speed' on 'acme/...' has no
sample rate``, never only ``invalid value``.

Over HTTP an error travels by type, never by message text: :data:`HTTP_STATUS` gives
each class its status, the API answers ``{"error": class name, "detail": message}``, and
the API's clients raise the same class again with :func:`error_from_http`. The table is
read through the class's ancestors, so a subclass added later inherits its parent's
status until it gets its own row.
"""

from __future__ import annotations

__all__ = [
    "HTTP_STATUS",
    "AlertError",
    "AlertNotFound",
    "AlertTransitionError",
    "ApiError",
    "AuthenticationRequired",
    "BusClosed",
    "BusError",
    "BusFull",
    "ConfigError",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorNotReady",
    "DeploymentError",
    "DeploymentNotFound",
    "DeploymentRefused",
    "HostNotAllowed",
    "ImageRejected",
    "ImageTooLarge",
    "ModelError",
    "NotAnImage",
    "NotFittedError",
    "NotificationRefused",
    "NotifierError",
    "PayloadTooLarge",
    "PermissionDenied",
    "PipelineConfigError",
    "PipelineError",
    "PortInUse",
    "RecordError",
    "RequestInvalid",
    "ServiceError",
    "ShopfloorError",
    "SignalKindMismatch",
    "StoreDiskFull",
    "StoreError",
    "StoreFailed",
    "StoreLocked",
    "StoreOutOfMemory",
    "StoreReadOnly",
    "StoreUnavailable",
    "UnknownSignal",
    "UnsupportedMediaType",
    "WriteError",
    "WriteNotVerified",
    "WriteRefused",
    "error_from_http",
    "http_status",
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


class ImageRejected(RecordError):
    """An image is refused: truncated or corrupt (subclasses say when it is something else).

    ``category`` is the short reason a dead letter files it under.
    """

    category = "bad_image"


class NotAnImage(ImageRejected):
    """The bytes are not an image of an accepted format (text named ``.png``)."""

    category = "not_an_image"


class ImageTooLarge(ImageRejected):
    """The image is larger than the limit of the path it came by."""

    category = "oversized"


class StoreError(ShopfloorError):
    """The store failed or refused an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the caller keeps the data and retries later."""


class StoreLocked(StoreUnavailable):
    """Another process (the running platform) owns the store file."""


class UnknownSignal(StoreError, LookupError):
    """The signal named is not declared in the store."""


class SignalKindMismatch(StoreError, ValueError):
    """The signal exists with another kind than the operation needs."""


class StoreReadOnly(StoreError):
    """The store was opened read-only (its folder or file is not writable)."""


class StoreFailed(StoreError):
    """The database failed as a whole (disk, memory, I/O); the batch was not written.

    Tells a fatal store failure from a bad record: the caller keeps the data (journal)
    and reopens the store later, once the cause is gone (space freed, device back),
    instead of dead-lettering the input.

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


class StoreDiskFull(StoreFailed):
    """No space left on the device the store writes to."""


class StoreOutOfMemory(StoreFailed):
    """The store ran out of memory even after spilling to its temporary folder."""


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


class WriteError(ConnectorError):
    """A write-back to a source (an alarm node of a machine) failed now; it is retried."""


class WriteRefused(WriteError, ValueError):
    """A write that fails again as is: retrying would not help.

    The value does not fit the target's data type or range (2.5 to a Boolean, 300 to a
    Byte), the target is not writable or not in the allow-list, or the source refused it
    for good (``BadNotWritable``, ``BadTypeMismatch``, ``BadUserAccessDenied``).
    """


class WriteNotVerified(WriteError):
    """The value read back after a write (and a second write) differs from the value written.

    ``read_back`` is the value read, when the source gave one.
    """

    def __init__(self, message: str, *, read_back: object = None) -> None:
        super().__init__(message)
        self.read_back = read_back


class PipelineError(ShopfloorError):
    """A pipeline specification is wrong or a step failed on its data."""


class PipelineConfigError(PipelineError, ConfigError):
    """A pipeline's specification is wrong: a step, a feature, a signal, an output."""


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


class NotifierError(ShopfloorError):
    """A notification (webhook, MQTT, email) was not delivered now; it is retried."""


class NotificationRefused(NotifierError):
    """The receiver refused a notification for good: retrying would not help."""


class DeploymentError(ShopfloorError):
    """A deployment cannot be found, made or changed as asked (rollback with no earlier one)."""


class DeploymentNotFound(DeploymentError, LookupError):
    """No deployment has the name (or runs on the asset) given."""


class DeploymentRefused(DeploymentError, ModelError):
    """The model does not fit where it should run: pipeline, features, units or signals differ."""


class AlertError(ShopfloorError):
    """An alert cannot be found or changed as asked."""


class AlertNotFound(AlertError, LookupError):
    """No alert has the id given."""


class AlertTransitionError(AlertError, ValueError):
    """The change does not apply to the alert's state (acknowledging a resolved alert)."""


class ApiError(ShopfloorError):
    """The HTTP API refused a request before it reached the platform."""


class AuthenticationRequired(ApiError):
    """The request carries no token, or one that is unknown or revoked."""


class PermissionDenied(ApiError):
    """The token is valid, but its role may not do what the request asks."""


class HostNotAllowed(ApiError):
    """The request's Host header is not one the API answers to."""


class PayloadTooLarge(ApiError):
    """The request body is larger than the API accepts."""


class UnsupportedMediaType(ApiError):
    """A write whose content type is neither JSON nor Arrow IPC."""


class RequestInvalid(ApiError):
    """A request's parameters or body fail validation: a bad range, a malformed path."""


HTTP_STATUS: dict[type[ShopfloorError], int] = {
    ShopfloorError: 400,
    ConfigError: 400,
    RecordError: 422,
    NotAnImage: 415,
    ImageTooLarge: 413,
    StoreError: 400,
    UnknownSignal: 404,
    StoreUnavailable: 503,
    StoreLocked: 503,
    SignalKindMismatch: 409,
    StoreReadOnly: 409,
    StoreFailed: 503,
    StoreDiskFull: 507,
    StoreOutOfMemory: 503,
    BusError: 400,
    BusClosed: 503,
    BusFull: 503,
    ConnectorError: 502,
    ConnectorNotReady: 503,
    ConnectorAuthError: 502,
    WriteRefused: 422,
    PipelineError: 422,
    PipelineConfigError: 422,
    ModelError: 422,
    NotFittedError: 409,
    NotifierError: 502,
    DeploymentError: 409,
    DeploymentNotFound: 404,
    DeploymentRefused: 422,
    AlertError: 400,
    AlertNotFound: 404,
    AlertTransitionError: 409,
    ServiceError: 503,
    ApiError: 400,
    AuthenticationRequired: 401,
    PermissionDenied: 403,
    HostNotAllowed: 400,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    RequestInvalid: 422,
}
"""HTTP status of each error class; subclasses not listed take their nearest ancestor's."""

_BY_NAME: dict[str, type[ShopfloorError]] = {cls.__name__: cls for cls in HTTP_STATUS}


def http_status(error: ShopfloorError | type[ShopfloorError]) -> int:
    """The HTTP status of ``error`` (an instance or a class), by its nearest listed ancestor.

    Examples
    --------
    >>> http_status(UnknownSignal("unknown signal 'a/b'"))
    404
    >>> http_status(StoreUnavailable)
    503
    """
    cls = error if isinstance(error, type) else type(error)
    for ancestor in cls.__mro__:
        if ancestor in HTTP_STATUS:
            return HTTP_STATUS[ancestor]
    return 500


def error_from_http(status: int, name: str | None, detail: str) -> ShopfloorError:
    """The error an HTTP answer stands for: the class named ``name``, else one by ``status``.

    Parameters
    ----------
    status
        The HTTP status code of the answer.
    name
        The ``error`` field of the answer's JSON body (a class name), if any.
    detail
        The message.

    Examples
    --------
    >>> error_from_http(404, "UnknownSignal", "unknown signal 'a/b'")
    UnknownSignal("unknown signal 'a/b'")
    >>> type(error_from_http(503, None, "down")).__name__
    'StoreUnavailable'
    """
    cls = _BY_NAME.get(name or "")
    if cls is None:
        cls = {
            401: AuthenticationRequired,
            403: PermissionDenied,
            413: PayloadTooLarge,
            415: UnsupportedMediaType,
            503: StoreUnavailable,
        }.get(status, StoreError)
    return cls(detail)
