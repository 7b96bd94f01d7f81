"""``shopfloor deploy``, ``shopfloor deployments`` and ``shopfloor rollback``.

The work is in :mod:`shopfloor.services.deployments`; this module parses and prints. A
change is desired state kept in the project store with who made it (``--by``, default the
login name), when and why (``--reason``); a running platform follows it (reached over its
API while it runs, with the engineer role).
"""

from __future__ import annotations

from typing import Annotated, Any

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
from shopfloor.cli.output import EXIT_CONFIG, as_json, console, fail, print_table
from shopfloor.services.listing import Listing

__all__ = ["app", "deploy", "rollback"]

app = group_app("deployments")

ReasonOption = Annotated[str, typer.Option("--reason", "-m", help="Why, in words (audited).")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who makes the change (default: your login name).")
]
NameOption = Annotated[
    str | None,
    typer.Option(
        "--name", help="The deployment's name (default: the model's; '<model>-shadow' in shadow)."
    ),
]


def _print_changes(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        change = row["change"]
        if change is None:
            console.print(
                f"{row['name']} on {row['asset']}: {row['ref']} ({row['mode']}) already runs; "
                "nothing changed",
                highlight=False,
            )
            continue
        before = f" (was {change['from_ref']})" if change["from_ref"] else ""
        console.print(
            f"{change['action']}: {row['name']} on {row['asset']} → {change['to_ref'] or 'stopped'}"
            f" ({row['mode']}){before} by {change['who']}",
            highlight=False,
        )


def deploy(
    model: Annotated[str, typer.Argument(help="The model version: M@3, M@production, M@latest.")],
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", "-a", help="Where it runs (repeat; default: its pipeline's)."),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="shadow (scores, never alerts) or active (feeds alert rules).")
    ] = "shadow",
    name: NameOption = None,
    reason: ReasonOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Deploy a model version to live data, or swap it in for the one running there."""
    from shopfloor.model.deployment import Mode
    from shopfloor.services import deployments as service

    if mode not in ("shadow", "active"):
        fail(f"--mode must be shadow or active, got {mode!r}", EXIT_CONFIG)
    mode_: Mode = "active" if mode == "active" else "shadow"
    proj = load(project)
    rows = with_store(
        proj,
        lambda store: service.deploy(
            proj,
            store,
            model,
            assets=list(asset or []),
            mode=mode_,
            name=name,
            who=by or current_user(),
            reason=reason,
        ),
    )
    if not as_json(json_, rows):
        _print_changes(rows)


def rollback(
    asset: Annotated[str, typer.Argument(help="The asset whose deployment goes back a version.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Which deployment (when several run there).")
    ] = None,
    reason: ReasonOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Go back one version on an asset (the version the running one replaced)."""
    from shopfloor.services import deployments as service

    proj = load(project)
    row = with_store(
        proj,
        lambda store: service.rollback(
            proj, store, asset, name=name, who=by or current_user(), reason=reason
        ),
    )
    if not as_json(json_, row):
        _print_changes([row])


@app.command("list")
def list_deployments(
    asset: Annotated[str | None, typer.Option(help="Only those on this asset.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Stopped ones too.")] = False,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """List the deployments with their mode and last scored window."""
    from shopfloor.services import deployments as service

    rows = with_store(
        load(project, build_pipelines=False),
        lambda store: service.list_deployments(store, asset=asset, stopped=all_),
    )
    if not as_json(json_, rows):
        print_table(service.deployments_listing(rows))


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="The deployment's name.")],
    asset: Annotated[str | None, typer.Option(help="Only on this asset.")] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Show a deployment and its audit log (every deploy, swap, rollback and stop)."""
    from shopfloor.services import deployments as service

    result = with_store(
        load(project, build_pipelines=False),
        lambda store: service.show_deployment(store, name, asset=asset),
    )
    if as_json(json_, result):
        return
    print_table(service.deployments_listing(result["deployments"]))
    rows = [
        (
            c["at"],
            c["action"],
            c["asset"],
            c["who"],
            c["from_ref"] or "-",
            c["to_ref"] or "-",
            c["reason"],
        )
        for c in result["log"]
    ]
    print_table(Listing("audit log", ("at", "action", "asset", "who", "from", "to", "why"), rows))


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
    from shopfloor.services import deployments as service
    from shopfloor.services.query import parse_time_range

    span = checked(parse_time_range, from_, to, names=("--from", "--to"))
    proj = load(project, build_pipelines=False)
    result = with_store(
        proj,
        lambda store: service.compare_deployments(
            proj, store, asset, a=a, b=b, start_ns=span.start_ns, end_ns=span.end_ns
        ),
    )
    if as_json(json_, result):
        return
    columns = ("name", "model", "mode", "windows", "alarms", "warnings", "alerts_raised")
    print_table(
        Listing(
            f"{result['asset']}, {result['from']} .. {result['to']}",
            columns,
            [tuple(result[side][c] for c in columns) for side in ("a", "b")],
            numbers=("windows", "alarms", "warnings", "alerts_raised"),
        )
    )
    corr = result["score_correlation"]
    agree = result["state_agreement"]
    console.print(
        f"{result['common_windows']} windows scored by both; score correlation "
        f"{'-' if corr is None else f'{corr:.3f}'}; states agree on "
        f"{'-' if agree is None else f'{100 * agree:.1f} %'} of them",
        highlight=False,
    )


@app.command("stop")
def stop_deployment(
    name: Annotated[str, typer.Argument(help="The deployment's name.")],
    asset: Annotated[str | None, typer.Option(help="Only on this asset (default: all).")] = None,
    reason: ReasonOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Stop a deployment (kept, with its history; deploy it again to restart)."""
    from shopfloor.services import deployments as service

    rows = with_store(
        load(project, build_pipelines=False),
        lambda store: service.stop(
            store, name, asset=asset, who=by or current_user(), reason=reason
        ),
    )
    if not as_json(json_, rows):
        _print_changes(rows)
