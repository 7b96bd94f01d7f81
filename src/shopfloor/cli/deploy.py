"""``shopfloor deploy``, ``shopfloor deployments`` and ``shopfloor rollback``.

The work and the wording are in :mod:`shopfloor.services.deployments`; this module parses
and prints. A change is desired state kept in the project store with who made it (``--by``,
default the login name), when and why (``--reason``); a running platform follows it
(reached over its API while it runs, with the engineer role).
"""

from __future__ import annotations

from typing import Annotated

import typer

from shopfloor.cli.common import (
    JsonOption,
    ProjectOption,
    checked,
    current_user,
    load,
    with_store,
)
from shopfloor.cli.lazy import group_app
from shopfloor.cli.output import show
from shopfloor.services import deployments as service
from shopfloor.services.query import parse_time_range

__all__ = ["app", "deploy", "rollback"]

app = group_app("deployments")

ReasonOption = Annotated[str, typer.Option("--reason", "-m", help="Why, in words (audited).")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who makes the change (default: your login name).")
]
AssetOption = Annotated[str | None, typer.Option(help="Only on this asset.")]
NameArgument = Annotated[str, typer.Argument(help="The deployment's name.")]


def deploy(
    model: Annotated[str, typer.Argument(help="The model version: M@3, M@production, M@latest.")],
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", "-a", help="Where it runs (repeat; default: its pipeline's)."),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="shadow (scores, never alerts) or active (feeds alert rules).")
    ] = "shadow",
    name: Annotated[
        str | None,
        typer.Option(
            help="The deployment's name (default: the model's; '<model>-shadow' in shadow)."
        ),
    ] = None,
    reason: ReasonOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Deploy a model version to live data, or swap it in for the one running there."""
    mode_ = checked(service.parse_mode, mode)
    proj = load(project)
    who = by or current_user()
    rows = with_store(
        proj,
        lambda store: service.deploy(
            proj,
            store,
            model,
            assets=list(asset or []),
            mode=mode_,
            name=name,
            who=who,
            reason=reason,
        ),
    )
    show(json_, rows, service.changes_view)


def rollback(
    asset: Annotated[str, typer.Argument(help="The asset whose deployment goes back a version.")],
    name: Annotated[
        str | None, typer.Option(help="Which deployment (when several run there).")
    ] = None,
    reason: ReasonOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Go back one version on an asset (the version the running one replaced)."""
    proj = load(project)
    who = by or current_user()
    row = with_store(
        proj, lambda store: service.rollback(proj, store, asset, name=name, who=who, reason=reason)
    )
    show(json_, row, service.changes_view)


@app.command("list")
def list_deployments(
    asset: AssetOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Stopped ones too.")] = False,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """List the deployments with their mode and last scored window."""
    rows = with_store(
        load(project, build_pipelines=False),
        lambda store: service.list_deployments(store, asset=asset, stopped=all_),
    )
    show(json_, rows, lambda r: [service.deployments_listing(r)])


@app.command("show")
def show_deployment(
    name: NameArgument,
    asset: AssetOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Show a deployment and its audit log (every deploy, swap, rollback and stop)."""
    result = with_store(
        load(project, build_pipelines=False),
        lambda store: service.show_deployment(store, name, asset=asset),
    )
    show(json_, result, service.deployment_view)


@app.command()
def compare(
    asset: Annotated[str, typer.Argument(help="The asset both deployments score.")],
    a: Annotated[str | None, typer.Option("--a", help="First (default: the active one).")] = None,
    b: Annotated[str | None, typer.Option("--b", help="Second (default: the shadow).")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (ISO time or -24h; default: a day ago).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="End (default: now).")] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """How two deployments differ on the same windows: alarms, alerts, correlation, agreement."""
    span = checked(parse_time_range, from_, to, names=("--from", "--to"))
    proj = load(project, build_pipelines=False)
    result = with_store(
        proj,
        lambda store: service.compare_deployments(
            proj, store, asset, a=a, b=b, start_ns=span.start_ns, end_ns=span.end_ns
        ),
    )
    show(json_, result, service.comparison_view)


@app.command("stop")
def stop_deployment(
    name: NameArgument,
    asset: AssetOption = None,
    reason: ReasonOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Stop a deployment (kept, with its history; deploy it again to restart)."""
    who = by or current_user()
    rows = with_store(
        load(project, build_pipelines=False),
        lambda store: service.stop(store, name, asset=asset, who=who, reason=reason),
    )
    show(json_, rows, service.changes_view)
