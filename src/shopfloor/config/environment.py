"""The process environment, read here (and in the CLI) only; lower layers get a copy."""

from __future__ import annotations

import os

__all__ = ["environment"]


def environment() -> dict[str, str]:
    """A copy of the environment, for connectors that take secrets from it."""
    return dict(os.environ)
