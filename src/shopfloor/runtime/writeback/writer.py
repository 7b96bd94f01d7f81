"""The seam between write-back and a protocol: :class:`Writer`.

A writer writes one value to one address of one source and returns the value read back
after it (it verifies, or raises). :class:`ConnectorWriter` writes through a running
connector's own session (any connector that is
:class:`~shopfloor.connectors.base.Writable`: OPC UA today; a Modbus connector plugs in
by implementing ``write`` and declaring ``writable`` in its manifest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from shopfloor.connectors.writes import WriteValue
from shopfloor.errors import ConnectorNotReady, WriteRefused

__all__ = ["ConnectorWriter", "Writer"]


class Writer(Protocol):
    """Writes values to the addresses of one source."""

    async def write(self, address: str, value: WriteValue) -> object:
        """Write ``value`` to ``address``; return the value read back after it.

        Raises
        ------
        WriteRefused
            Retrying would not help (the value does not fit, the target is not writable).
        WriteNotVerified
            The value read back differs from the value written.
        ConnectorError
            Anything else (``ConnectorNotReady``: the source is not reachable now).
        """
        ...


class ConnectorWriter:
    """Writes through connector ``name``'s session while it is connected.

    Parameters
    ----------
    name
        The connector in the project file.
    find
        The connector by name while it is connected, else ``None``
        (:meth:`~shopfloor.connectors.engine.ConnectorEngine.connected`).
    """

    def __init__(self, name: str, find: Callable[[str], object | None]) -> None:
        self.name = name
        self._find = find

    async def write(self, address: str, value: WriteValue) -> object:
        """Write through the connector; ``ConnectorNotReady`` while it is not connected."""
        # imported here: loading a project (which reads this package's config) needs no
        # record types, and so no numpy
        from shopfloor.connectors.base import Writable

        connector = self._find(self.name)
        if connector is None:
            raise ConnectorNotReady(f"connector {self.name!r} is not connected")
        if not isinstance(connector, Writable):
            raise WriteRefused(
                f"connector {self.name!r} ({type(connector).__name__}) cannot write back"
            )
        result: object = await connector.write(address, value)
        return result
