"""Command groups imported when they run, so that ``shopfloor --help`` imports none of them.

``shopfloor opcua``, ``modbus``, ``pipelines`` and ``sim`` pull in asyncua, pymodbus, scipy
and the simulator; :class:`LazyGroup` lists the :data:`GROUPS` with their one-line help and
imports a module only when its group is invoked (or its own ``--help`` is asked for). Each
module builds its ``app`` with :func:`group_app`, so the help is written once, here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import ClassVar

import typer
from typer import _click as click  # typer's own click, the one its groups are made of
from typer.core import TyperCommand, TyperGroup

__all__ = [
    "COMMANDS",
    "DEPLOY_COMMANDS",
    "GROUPS",
    "MODEL_COMMANDS",
    "LazyGroup",
    "LazyTyper",
    "group_app",
]


@dataclass(frozen=True)
class LazyTyper:
    """A sub-application: ``module`` holds a :class:`typer.Typer` named ``app``.

    With ``command``, a single command instead: the function of that name in ``module``
    (whose docstring's first line is ``help``).
    """

    module: str
    help: str
    command: str | None = None


GROUPS = {
    "alerts": LazyTyper(
        "shopfloor.cli.alerts", "Alerts: list, show, acknowledge, resolve, shelve, feedback."
    ),
    "deployments": LazyTyper(
        "shopfloor.cli.deploy",
        "Deployments: list, show (with the audit log), compare shadow and active, stop.",
    ),
    "diagnose": LazyTyper(
        "shopfloor.cli.diagnose", "Diagnose a bearing: inner race, outer race, ball, cage."
    ),
    "labels": LazyTyper(
        "shopfloor.cli.labels",
        "Labels: mark time ranges healthy, ignore or fault:<type> for datasets.",
    ),
    "models": LazyTyper(
        "shopfloor.cli.models",
        "Model registry: list, show, promote, archive and export model versions.",
    ),
    "modbus": LazyTyper(
        "shopfloor.cli.modbus", "Modbus TCP: scan a device's registers and export them as signals."
    ),
    "mqtt": LazyTyper(
        "shopfloor.cli.mqtt", "MQTT: listen to what devices publish and export it as signals."
    ),
    "opcua": LazyTyper(
        "shopfloor.cli.opcua", "OPC UA: browse a server and export its tags as signals."
    ),
    "pipelines": LazyTyper(
        "shopfloor.cli.pipelines",
        "Pipelines: list them, fit them on a baseline, run them over history.",
    ),
    "sim": LazyTyper(
        "shopfloor.cli.sim", "Run simulated machines (real industrial protocols on loopback)."
    ),
    "tokens": LazyTyper("shopfloor.cli.tokens", "Create, list and revoke API tokens."),
    "users": LazyTyper(
        "shopfloor.cli.users", "Studio users: create (password prompted), list, disable, enable."
    ),
}

COMMANDS = {  # shopfloor.cli.data: their options import the services' option models
    "ingest": "Load recordings into the store, reporting every rejected row or capture.",
    "query": "Read a signal's values (scalars, or waveform blocks and events as summaries).",
    "signals": "List the signals the store knows, with how much data each has.",
    "events": "Show events (data gaps, program changes, alarms), newest first.",
    "dead-letters": "Show rejected input with the reason it was rejected, newest first.",
}


MODEL_COMMANDS = {  # shopfloor.cli.models
    "train": "Train a model on stored history and register a new version of it.",
    "score": "Score stored history with a registered model, window by window.",
    "evaluate": "Measure a registered model on labelled stored history (JSON report).",
}


DEPLOY_COMMANDS = {  # shopfloor.cli.deploy
    "deploy": "Deploy a model version to live data, or swap it in for the one running there.",
    "rollback": "Go back one version on an asset (the version the running one replaced).",
}


def group_app(name: str) -> typer.Typer:
    """The sub-application of group ``name``, with the help its stand-in shows."""
    return typer.Typer(help=GROUPS[name].help, no_args_is_help=True)


class LazyGroup(TyperGroup):
    """The root group: eager commands as usual, plus the :attr:`lazy` sub-applications."""

    lazy: ClassVar[dict[str, LazyTyper]] = {
        **{n: LazyTyper("shopfloor.cli.data", h, n.replace("-", "_")) for n, h in COMMANDS.items()},
        **{n: LazyTyper("shopfloor.cli.models", h, n) for n, h in MODEL_COMMANDS.items()},
        **{n: LazyTyper("shopfloor.cli.deploy", h, n) for n, h in DEPLOY_COMMANDS.items()},
        **GROUPS,
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager commands in the order they were added, then the lazy ones."""
        eager = [n for n in super().list_commands(ctx) if n not in self.lazy]
        return [*eager, *self.lazy]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command; a lazy one as a stand-in that only carries its help text."""
        if cmd_name in self.lazy:
            text = self.lazy[cmd_name].help
            return TyperCommand(cmd_name, help=text, short_help=text)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Import a lazy group when it is the command being run."""
        if args and args[0] in self.lazy:
            return args[0], self._load(args[0]), args[1:]
        return super().resolve_command(ctx, args)

    def _load(self, name: str) -> click.Command:
        entry = self.lazy[name]
        if entry.command is not None:
            single = typer.Typer(add_completion=False)
            single.command(name)(getattr(importlib.import_module(entry.module), entry.command))
            return typer.main.get_command(single)
        sub = importlib.import_module(self.lazy[name].module).app
        if not isinstance(sub, typer.Typer):
            raise TypeError(f"{self.lazy[name].module}.app is not a typer.Typer")
        # mounted as `add_typer` would: a group even with one command, no completion options
        holder = typer.Typer(add_completion=False)
        holder.add_typer(sub, name=name)
        root = typer.main.get_command(holder)
        if not isinstance(root, TyperGroup):
            raise TypeError(f"{self.lazy[name].module}.app did not make a command group")
        return root.commands[name]
