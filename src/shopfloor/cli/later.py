"""Commands whose engine arrives with later parts of the platform.

They exist now so the command-line contract is complete; each says plainly what it does
not do yet and exits with status 1 (nothing is pretended).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from shopfloor.cli.common import ProjectOption
from shopfloor.cli.output import fail

__all__ = ["register"]

_HELP = {  # the command's help; the commands in _MODEL take a MODEL argument
    "deploy": "Deploy a model to live data (not available yet).",
}
_MODEL = {"deploy"}
_WHY = {
    "deploy": "deployments arrive with the deployment runtime",
}


def _pending(name: str) -> Callable[..., None]:
    """The command ``name``: it takes what it will take, and says why it does nothing."""
    why = _WHY[name]

    def with_model(
        model: Annotated[str | None, typer.Argument(help="Model name.")] = None,
        project: ProjectOption = None,
    ) -> None:
        fail(f"'shopfloor {name}': {why}; nothing was done")

    def without(project: ProjectOption = None) -> None:
        fail(f"'shopfloor {name}': {why}; nothing was done")

    return with_model if name in _MODEL else without


def register(app: typer.Typer) -> None:
    """Add the pending commands to ``app``."""
    for name, help_ in _HELP.items():
        app.command(name, help=help_)(_pending(name))
