"""The contract between the connector engine and each connector type.

A connector knows its protocol and nothing else: it connects, reads or subscribes, hands
records to the engine through ``emit``, and closes. The engine owns everything every
connector needs: the reconnect policy (the project's one
:class:`~shopfloor.retry.RetryPolicy`), health, validation, dead letters, and
store-and-forward through the journal. Adding a connector type is one folder
(``manifest.py``, ``config.py``, ``client.py``) plus a fixture in
``tests/connectors/test_contract.py``, where :func:`shopfloor.testing.check_connector`'s
checks (read, restart, recover, close) run over every registered type, as with Home
Assistant integrations.

Exceptions tell the engine what to do:

- :class:`~shopfloor.errors.ConnectorNotReady` (or ``OSError``/``TimeoutError``): the
  source is unreachable now; reconnect with backoff.
- :class:`~shopfloor.errors.ConnectorAuthError`: credentials or certificates refused;
  retrying quickly will not help, so the engine waits the longest backoff.
- Any other exception is a bug in the connector: logged in one line (the traceback at
  debug level), then treated like ``ConnectorNotReady`` so production continues.
- An exception from the constructor leaves the connector ``failed``, with the reason in
  its health: a setting it cannot use will not get better by retrying.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shopfloor.connectors.config import ConnectorConfig
from shopfloor.model import DeadLetter, Record, Signal, SignalRef

__all__ = [
    "BoundSignal",
    "Connector",
    "ConnectorContext",
    "ConnectorFactory",
    "Declare",
    "Describes",
    "Emit",
    "Reject",
    "Writable",
]


@dataclass(frozen=True)
class BoundSignal:
    """A signal of the project bound to a connector: where to read it and what it is."""

    ref: SignalRef
    definition: Signal
    address: str
    options: dict[str, Any] = field(default_factory=dict)


Emit = Callable[[Sequence[Record]], Awaitable[None]]
"""Hand records to the engine; returns once they are on the bus or in the journal."""

Reject = Callable[[Sequence[DeadLetter]], Awaitable[None]]
"""Hand input the connector could not decode to the engine's dead letters."""

Declare = Callable[[str, Sequence[Signal]], Awaitable[None]]
"""Create signals of an asset that the source describes itself (a Sparkplug B birth).

The engine validates their records from then on and, in a platform, the store registers
them before this returns, so records emitted afterwards are kept. Raises when a definition
is refused (a signal that exists with another kind), naming it.
"""


@dataclass(frozen=True)
class ConnectorContext:
    """What the engine gives a connector besides its settings.

    Attributes
    ----------
    state_dir
        A folder of its own for certificates and state that outlives a restart.
    emit, reject
        Where records and undecodable input go.
    env
        Environment variables the connector may read (secrets); only the CLI and config
        layers read ``os.environ`` and pass what a connector needs through here.
    root
        The project folder: relative paths in a connector's settings are relative to it.
    resume
        Where to resume after a platform start: the last timestamp (UTC ns) the store
        holds for each bound signal that has data. A connector whose source keeps history
        backfills each signal from there, and records what it cannot fill as a ``gap``
        event, so that a restart (clean or after a crash) leaves no silent hole.
    declare
        Creates signals the source describes (``None`` outside an engine: a connector
        then emits only for its bound signals).
    """

    state_dir: Path
    emit: Emit
    reject: Reject
    env: dict[str, str] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)
    resume: Mapping[SignalRef, int] = field(default_factory=dict)
    declare: Declare | None = None

    def resolve(self, path: str | Path) -> Path:
        """``path`` from a connector's settings, made absolute against the project."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.root / candidate


class Connector(Protocol):
    """One configured connection to a source.

    Constructed as ``Connector(config, signals, context)``.
    """

    name: str

    async def connect(self) -> None:
        """Open the connection (and subscriptions); raise to ask for a retry."""

    async def run(self) -> None:
        """Read until the connection is lost (raise) or the task is cancelled."""

    async def close(self) -> None:
        """Release everything; safe to call twice and under cancellation."""


@runtime_checkable
class Describes(Protocol):
    """A connector with state of its own to show in its health (edge nodes online, ...)."""

    def details(self) -> dict[str, Any]:
        """JSON-able; the engine shows it under ``details`` in the connector's health."""


ConnectorFactory = Callable[[ConnectorConfig, list[BoundSignal], ConnectorContext], Connector]


@runtime_checkable
class Writable(Protocol):
    """A connector that can write a value back to its source (its manifest says ``writable``).

    Used only for the addresses the project's ``writeback`` allow-list names, when an
    alert rule asks (:mod:`shopfloor.runtime.writeback`). The target's data type comes
    from the source, the value is converted to it with
    :func:`~shopfloor.connectors.writes.convert_value`, written, and read back.
    """

    async def write(self, address: str, value: Any) -> Any:
        """Write ``value`` to ``address`` and return the value read back after it.

        Raises
        ------
        WriteRefused
            The value does not fit the target's type, or the source refused it for good.
        WriteNotVerified
            The value read back differs from the value written, twice.
        ConnectorError
            Any other failure naming the address and the value (``ConnectorNotReady``
            when the source cannot be reached now); retried by the caller.
        """
