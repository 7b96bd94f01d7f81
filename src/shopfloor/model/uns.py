"""The Unified Namespace: bus topics built from ISA-95 asset paths.

``shopfloor/v1/<enterprise>/<site>/<area>/<line>/<cell>/<asset>/<signal>``, the same on
the in-process bus and on an MQTT broker.
"""

from __future__ import annotations

from shopfloor.model.signal import SignalRef

__all__ = ["UNS_ROOT", "signal_from_topic", "topic_for"]

UNS_ROOT = "shopfloor/v1"


def topic_for(signal: SignalRef) -> str:
    """Return the UNS topic of ``signal``.

    Examples
    --------
    >>> topic_for(SignalRef("acme/p1/machining/l1/c1/cnc-01", "spindle_speed"))
    'shopfloor/v1/acme/p1/machining/l1/c1/cnc-01/spindle_speed'
    """
    return f"{UNS_ROOT}/{signal[0]}/{signal[1]}"


def signal_from_topic(topic: str) -> SignalRef:
    """Return the signal a UNS topic names; ``ValueError`` names the topic when it is not one."""
    prefix = UNS_ROOT + "/"
    if not topic.startswith(prefix):
        raise ValueError(f"topic {topic!r} is not under {UNS_ROOT}/")
    try:
        return SignalRef.parse(topic[len(prefix) :])
    except ValueError as err:
        raise ValueError(f"topic {topic!r}: {err}") from err
