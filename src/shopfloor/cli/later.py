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

# name -> (its help, whether it takes a MODEL argument, why it does nothing yet)
_PENDING = {
    "train": (
        "Train a model on stored history (not available yet).",
        True,
        "training models on stored history arrives with the model registry",
    ),
    "score": (
        "Score stored history with a model (not available yet).",
        True,
        "scoring stored history with a trained model arrives with the model registry",
    ),
    "models": (
        "List registered models (not available yet).",
        False,
        "the model registry is not part of this version yet",
    ),
    "deploy": (
        "Deploy a model to live data (not available yet).",
        True,
        "deployments arrive with the deployment runtime",
    ),
    "alerts": (
        "List alerts (not available yet).",
        False,
        "alerts arrive with the deployment runtime",
    ),
}


def _pending(name: str, why: str, model: bool) -> Callable[..., None]:
    """The command ``name``: it takes what it will take, and says ``why`` it does nothing."""

    def with_model(
        model: Annotated[str | None, typer.Argument(help="Model name.")] = None,
        project: ProjectOption = None,
    ) -> None:
        fail(f"'shopfloor {name}': {why}; nothing was done")

    def without(project: ProjectOption = None) -> None:
        fail(f"'shopfloor {name}': {why}; nothing was done")

    return with_model if model else without


def register(app: typer.Typer) -> None:
    """Add the pending commands to ``app``."""
    for name, (help_, model, why) in _PENDING.items():
        app.command(name, help=help_)(_pending(name, why, model))
