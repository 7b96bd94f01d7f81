"""ISA-95 names: asset paths ``enterprise/site/area/line/cell/asset`` and their segments.

Signals and assets both name themselves with these rules, so they live below both.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["ISA95_LEVELS", "AssetPath", "validate_asset_path", "validate_segment"]

ISA95_LEVELS = ("enterprise", "site", "area", "line", "cell", "asset")

# Segments become MQTT topic levels, file names and URL path parts: no '/', '+', '#',
# spaces or control characters; start with a letter or digit.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def validate_segment(value: str, what: str = "name") -> str:
    """Return ``value`` when it is a valid path segment, else raise ``ValueError``.

    Examples
    --------
    >>> validate_segment("cnc-01")
    'cnc-01'
    """
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not valid: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return value


def validate_asset_path(value: str) -> str:
    """Return ``value`` when it is a six-level ISA-95 path, else raise ``ValueError``.

    Examples
    --------
    >>> validate_asset_path("acme/plant1/machining/line1/cell1/cnc-01")
    'acme/plant1/machining/line1/cell1/cnc-01'
    """
    if not isinstance(value, str):
        raise ValueError(f"asset path must be a string, got {type(value).__name__}")
    parts = value.strip("/").split("/")
    if len(parts) != len(ISA95_LEVELS):
        raise ValueError(
            f"asset path {value!r} has {len(parts)} levels; ISA-95 needs "
            f"{len(ISA95_LEVELS)}: {'/'.join(ISA95_LEVELS)}"
        )
    for level, part in zip(ISA95_LEVELS, parts, strict=True):
        validate_segment(part, what=f"{level} level")
    return "/".join(parts)


AssetPath = Annotated[str, AfterValidator(validate_asset_path)]
"""A validated ISA-95 path ``enterprise/site/area/line/cell/asset``."""
