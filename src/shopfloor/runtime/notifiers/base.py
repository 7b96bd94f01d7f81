"""What a notifier sends, and the seam every notifier type implements.

A :class:`Notification` is one change of an alert (raised, acknowledged, resolved), as
JSON-able fields. A :class:`Notifier` delivers it somewhere; it raises
:class:`~shopfloor.errors.NotifierError` when the delivery failed but may work later (the
dispatcher retries it with backoff), and
:class:`~shopfloor.errors.NotificationRefused` when retrying would not help.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from shopfloor.model import format_ns
from shopfloor.runtime.notifiers.config import SEVERITIES

__all__ = ["STATES", "Notification", "Notifier"]

STATES = ("open", "acknowledged", "resolved")
"""The states of an alert a notification reports."""


@dataclass(frozen=True)
class Notification:
    """One change of an alert, as it is sent.

    Parameters
    ----------
    alert_id
        Identifies the alert across its changes (raised, acknowledged, resolved).
    rule
        The alert rule's name.
    asset
        ISA-95 path of the asset (``acme/plant1/machining/cell2/cnc-01``).
    severity
        ``info``, ``warning``, ``alarm`` or ``critical``.
    state
        ``open``, ``acknowledged`` or ``resolved``.
    message
        One line a person reads.
    at_ns
        When the change happened, UTC nanoseconds.
    value
        The value that raised (or cleared) the alert, if any.
    signal
        The signal the rule watches, if any.
    """

    alert_id: str
    rule: str
    asset: str
    severity: str
    state: str
    message: str
    at_ns: int
    value: float | None = None
    signal: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"alert {self.alert_id!r}: severity must be one of {', '.join(SEVERITIES)}, "
                f"got {self.severity!r}"
            )
        if self.state not in STATES:
            raise ValueError(
                f"alert {self.alert_id!r}: state must be one of {', '.join(STATES)}, "
                f"got {self.state!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields, with the time also as ISO 8601 UTC (``at``)."""
        return {**asdict(self), "at": format_ns(self.at_ns)}

    def to_json(self) -> bytes:
        """Compact JSON, keys sorted (what webhook and MQTT send)."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def subject(self) -> str:
        """``[alarm] bearing-wear on acme/.../cnc-01: open``."""
        return f"[{self.severity}] {self.rule} on {self.asset}: {self.state}"


class Notifier(Protocol):
    """Delivers notifications to one place."""

    name: str
    """The notifier's name in the project file."""
    target: str
    """Where it delivers, for health and logs (no secrets): a URL, topic or recipients."""

    async def send(self, notification: Notification) -> None:
        """Deliver once; ``NotifierError`` (retry) or ``NotificationRefused`` (give up)."""
        ...

    async def close(self) -> None:
        """Release connections; safe to call twice and under cancellation."""
        ...
