"""Where Sparkplug B metrics land: ISA-95 asset paths and signal names.

A metric is known by its edge node (group id, edge node id), its device (none for the
edge node's own metrics) and its name, which may hold ``/`` as folders
(``Motor/Speed``). Signals are named by an asset path ``enterprise/site/area/line/cell/
asset`` and a name of letters, digits, ``_``, ``-`` and ``.``:

- the asset path comes from the connector's ``assets`` (an explicit path per edge node
  or device) or else from ``asset_template`` with ``{group}``, ``{edge_node}`` and
  ``{device}`` filled in (``node_asset`` stands for the device of an edge node's own
  metrics); every character a path segment cannot hold becomes ``_``;
- the signal name is the metric name with ``/`` as ``.`` and every other character a
  name cannot hold (a space) as ``_``: ``Motor/Speed`` → ``Motor.Speed``.

A project binds a metric to a signal of its own with ``source:
"<group>/<edge node>[/<device>]:<metric name>"``.

Examples
--------
>>> mapping = AssetMapping("acme/plant1/{group}/{edge_node}/main/{device}")
>>> mapping.asset_of("Line 1", "press-gw", None)
'acme/plant1/Line_1/press-gw/main/node'
>>> signal_name_of("Motor/Speed (rpm)")
'Motor.Speed_rpm'
>>> parse_source("Line 1/press-gw/press-3:Motor/Speed")
('Line 1', 'press-gw', 'press-3', 'Motor/Speed')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Formatter

from shopfloor.connectors.sparkplug.topics import validate_id
from shopfloor.model import validate_asset_path, validate_segment

__all__ = [
    "PLACEHOLDERS",
    "AssetMapping",
    "check_template",
    "node_address",
    "parse_source",
    "segment_of",
    "signal_name_of",
]

PLACEHOLDERS = ("group", "edge_node", "device")
"""What an ``asset_template`` may name."""

_NOT_IN_SEGMENT = re.compile(r"[^A-Za-z0-9_.\-]")


def segment_of(value: str) -> str:
    """A Sparkplug id or metric name as a path segment or signal name (at most 64 chars).

    Examples
    --------
    >>> segment_of("Line 1")
    'Line_1'
    >>> segment_of("_hidden")
    'x_hidden'
    """
    text = _NOT_IN_SEGMENT.sub("_", value)
    if not text or not text[0].isalnum():
        text = "x" + text
    return text[:64]


def signal_name_of(metric_name: str) -> str:
    """The signal name of a metric: ``/`` as ``.``, other characters out of place as ``_``."""
    folded = re.sub(r"_+", "_", segment_of(metric_name.replace("/", ".")))
    return folded.strip("_") or "x"


def node_address(group: str, edge_node: str, device: str | None) -> str:
    """``group/edge_node[/device]``: how messages, health and ``assets`` keys name a source."""
    return f"{group}/{edge_node}" if device is None else f"{group}/{edge_node}/{device}"


def parse_source(address: str) -> tuple[str, str, str | None, str]:
    """``(group, edge node, device or None, metric name)`` of a signal's ``source``.

    Raises
    ------
    ValueError
        Naming the address and the expected form.
    """
    where, sep, metric = address.partition(":")
    parts = where.split("/")
    if not sep or not metric or len(parts) not in (2, 3):
        raise ValueError(
            f"source {address!r} is not '<group>/<edge node>[/<device>]:<metric name>'"
        )
    for part, what in zip(parts, ("group id", "edge node id", "device id"), strict=False):
        validate_id(part, f"source {address!r}: {what}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None, metric


def check_template(template: str) -> str:
    """Return ``template`` when it fills to a six-level ISA-95 path, else raise ``ValueError``."""
    names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    unknown = names - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"asset_template {template!r} names {sorted(unknown)}; it may name only "
            + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        )
    validate_asset_path(template.format(group="g", edge_node="n", device="d"))
    return template


@dataclass(frozen=True)
class AssetMapping:
    """Asset paths of edge nodes and devices.

    Parameters
    ----------
    template
        ``asset_template``: a six-level path naming ``{group}``, ``{edge_node}``,
        ``{device}``.
    assets
        Explicit paths by ``group/edge_node[/device]``; they win over the template.
    node_asset
        The ``{device}`` of an edge node's own metrics.
    """

    template: str
    assets: Mapping[str, str] = field(default_factory=dict)
    node_asset: str = "node"

    def asset_of(self, group: str, edge_node: str, device: str | None) -> str:
        """The asset path of an edge node's (``device=None``) or a device's metrics."""
        explicit = self.assets.get(node_address(group, edge_node, device))
        if explicit is not None:
            return explicit
        path = self.template.format(
            group=segment_of(group),
            edge_node=segment_of(edge_node),
            device=validate_segment(self.node_asset) if device is None else segment_of(device),
        )
        return validate_asset_path(path)
