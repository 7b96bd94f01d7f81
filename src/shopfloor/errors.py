"""The one exception tree of shopfloor.

Every error the platform raises on purpose derives from :class:`ShopfloorError`, and
library errors are translated at the boundary with ``raise ... from err``, so callers
catch one tree and still see the cause::

    ShopfloorError
    ├── ConfigError          a project file or an option is wrong (CLI exit status 2)
    ├── RecordError          one record is malformed; it goes to the dead-letter table
    ├── StoreError           the store failed or refused an operation
    │   └── StoreUnavailable the store cannot be reached now (retry later)
    ├── BusError             the bus failed or refused an operation
    │   └── BusClosed        publishing or subscribing after close
    ├── ConnectorError       a connector failed talking to its source
    │   ├── ConnectorNotReady  not reachable now: the engine retries with backoff
    │   └── ConnectorAuthError credentials or certificates refused: retrying will not help
    ├── PipelineError        a pipeline is wrong or failed on data
    │   └── PipelineConfigError  its specification is wrong (also a ConfigError: exit 2)
    └── ModelError           a model is wrong, not fitted, or does not match its pipeline
        └── NotFittedError   also a ValueError, as in scikit-learn

Messages name the input and the value: ``signal 'spindle_speed' on 'acme/...' has no
sample rate``, never only ``invalid value``.
"""

from __future__ import annotations

__all__ = [
    "BusClosed",
    "BusError",
    "ConfigError",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorNotReady",
    "ModelError",
    "NotFittedError",
    "PipelineConfigError",
    "PipelineError",
    "RecordError",
    "ShopfloorError",
    "StoreError",
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


class BusError(ShopfloorError):
    """The bus failed or refused an operation."""


class BusClosed(BusError):
    """Publishing, subscribing or reading after the bus or subscription was closed."""


class ConnectorError(ShopfloorError):
    """A connector failed talking to its source."""


class ConnectorNotReady(ConnectorError):
    """The source cannot be reached now; the engine retries with backoff."""


class ConnectorAuthError(ConnectorError):
    """The source refused the credentials or certificate; retrying will not help."""


class PipelineError(ShopfloorError):
    """A pipeline specification is wrong or a step failed on its data."""


class PipelineConfigError(PipelineError, ConfigError):
    """A pipeline's specification is wrong: a step, a feature, a signal, an output."""


class ModelError(ShopfloorError):
    """A model is wrong, not fitted, or does not match the pipeline it is fed by."""


class NotFittedError(ModelError, ValueError):
    """The model is used before it was fitted."""
