"""Write-back: alerts that set a value on the machine (an alarm node), safely.

- :mod:`.config`: the ``writeback:`` allow-list of the project file; nothing is written
  unless a target is listed there *and* an alert rule asks for it;
- :mod:`.writer`: the :class:`Writer` seam (``write(address, value) -> value read back``)
  and :class:`ConnectorWriter`, which writes through a running connector's session;
- :mod:`.service`: :class:`WritebackService`, which paces (a minimum interval per
  target, coalescing to the latest value), retries, verifies and records every write
  without ever holding up alert evaluation.

Every write is recorded in the history of the alert that caused it (actions ``written``
and ``write_failed``): an operator who opens the alert sees what it did to the machine,
stored in the same transaction-safe table as its other changes and served by the same
commands. The API's audit log records what *people* asked through the API; a write-back
is the platform's own act on behalf of a rule, so it belongs with the alert.
"""

from shopfloor.runtime.writeback.config import WritebackConnectorConfig, WritebackTargetConfig
from shopfloor.runtime.writeback.service import WritebackService, WriteRequest, WriteResult
from shopfloor.runtime.writeback.writer import ConnectorWriter, Writer

__all__ = [
    "ConnectorWriter",
    "WriteRequest",
    "WriteResult",
    "WritebackConnectorConfig",
    "WritebackService",
    "WritebackTargetConfig",
    "Writer",
]
