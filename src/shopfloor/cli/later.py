"""Commands whose engine arrives with later parts of the platform.

They exist now so the command-line contract is complete; each says plainly what it does
not do yet and exits with status 1 (nothing is pretended).
"""

from __future__ import annotations

from typing import Annotated

import typer

from shopfloor.cli.common import ProjectOption, fail

__all__ = ["register"]

_PENDING = {
    "train": "training models on stored history arrives with the model registry",
    "score": "scoring stored history with a trained model arrives with the model registry",
    "models": "the model registry is not part of this version yet",
    "deploy": "deployments arrive with the deployment runtime",
    "alerts": "alerts arrive with the deployment runtime",
}


def _pending(name: str) -> None:
    fail(f"'shopfloor {name}': {_PENDING[name]}; nothing was done")


def register(app: typer.Typer) -> None:
    """Add the pending commands to ``app``."""

    @app.command()
    def train(
        model: Annotated[str | None, typer.Argument(help="Model name.")] = None,
        project: ProjectOption = None,
    ) -> None:
        """Train a model on stored history (not available yet)."""
        _pending("train")

    @app.command()
    def score(
        model: Annotated[str | None, typer.Argument(help="Model name.")] = None,
        project: ProjectOption = None,
    ) -> None:
        """Score stored history with a model (not available yet)."""
        _pending("score")

    @app.command()
    def models(project: ProjectOption = None) -> None:
        """List registered models (not available yet)."""
        _pending("models")

    @app.command()
    def deploy(
        model: Annotated[str | None, typer.Argument(help="Model name.")] = None,
        project: ProjectOption = None,
    ) -> None:
        """Deploy a model to live data (not available yet)."""
        _pending("deploy")

    @app.command()
    def alerts(project: ProjectOption = None) -> None:
        """List alerts (not available yet)."""
        _pending("alerts")
