"""Labels: time ranges of an asset (or of one of its signals) marked by a person.

A label is ``healthy``, ``ignore`` (the range is left out of datasets: a sensor was
loose, the machine was being serviced) or ``fault:<type>`` (``fault:outer_race``,
``fault:tool_wear``). Ranges are half-open ``[start_ns, end_ns)`` in UTC nanoseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from shopfloor.model.paths import validate_asset_path, validate_segment
from shopfloor.model.timestamps import format_ns

__all__ = ["Annotation", "validate_label"]

_FAULT = re.compile(r"^fault:[a-z0-9][a-z0-9_.-]{0,63}$")


def validate_label(label: str) -> str:
    """Return ``label`` when it is ``healthy``, ``ignore`` or ``fault:<type>``.

    Raises
    ------
    ValueError
        Naming the label and what a label may be.

    Examples
    --------
    >>> validate_label("fault:outer_race")
    'fault:outer_race'
    """
    if label in ("healthy", "ignore") or _FAULT.match(label):
        return label
    raise ValueError(
        f"label {label!r} is not valid: use healthy, ignore or fault:<type> "
        "(lower-case letters, digits, '_', '-', '.')"
    )


@dataclass(frozen=True, slots=True)
class Annotation:
    """A labelled time range of an asset, or of one signal of it (``signal``).

    ``id`` is given by the store (``None`` before it is added); ``created_by`` and
    ``created_ns`` say who labelled it and when.
    """

    asset: str
    start_ns: int
    end_ns: int
    label: str
    signal: str | None = None
    comment: str = ""
    created_by: str = ""
    created_ns: int = 0
    id: int | None = None

    def __post_init__(self) -> None:
        validate_asset_path(self.asset)
        if self.signal is not None:
            validate_segment(self.signal, what="signal name")
        validate_label(self.label)
        if self.end_ns <= self.start_ns:
            raise ValueError(
                f"label {self.label!r}: the end ({format_ns(self.end_ns)}) must come after "
                f"the start ({format_ns(self.start_ns)})"
            )

    @property
    def fault(self) -> str | None:
        """The fault type of a ``fault:<type>`` label, else ``None``."""
        return self.label.removeprefix("fault:") if self.label.startswith("fault:") else None

    def with_id(self, id_: int) -> Annotation:
        """The same annotation with the store's id."""
        return replace(self, id=id_)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, times as ISO 8601 UTC."""
        return {
            "id": self.id,
            "asset": self.asset,
            "signal": self.signal,
            "from": format_ns(self.start_ns),
            "to": format_ns(self.end_ns),
            "label": self.label,
            "comment": self.comment,
            "created_by": self.created_by,
            "created_at": format_ns(self.created_ns),
        }
