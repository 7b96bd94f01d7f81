"""``shopfloor alerts``: list, show, acknowledge, resolve, shelve and give feedback on alerts.

The work is in :mod:`shopfloor.services.alerts`; this module parses and prints. Who made a
change is ``--by`` (default: the login name).
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, load, with_store
from shopfloor.cli.lazy import group_app
from shopfloor.cli.output import EXIT_CONFIG, as_json, console, fail, print_table
from shopfloor.services.listing import Listing

__all__ = ["app"]

app = group_app("alerts")

IdArgument = Annotated[int, typer.Argument(help="The alert's id (see 'shopfloor alerts list').")]
CommentOption = Annotated[str, typer.Option("--comment", "-m", help="Why, in words.")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who makes the change (default: your login name).")
]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return "unknown"


def _changed(project: Path | None, json_: bool, work: Any) -> None:
    from shopfloor.services import alerts as service

    result = with_store(load(project, build_pipelines=False), lambda store: work(service, store))
    if as_json(json_, result):
        return
    change = result["change"]
    console.print(
        f"alert {result['id']} ({result['rule']} on {result['asset']}): {change['action']} "
        f"by {change['who']}; now {result['state']}"
        + (f", shelved until {result['shelved_until']}" if result["shelved_until"] else "")
    )
    if "label" in result:
        label = result["label"]
        console.print(f"labelled {label['label']} from {label['from']} to {label['to']}")


@app.command("list")
def list_alerts(
    state: Annotated[
        str,
        typer.Option(help="active (open or acknowledged), open, acknowledged, resolved, all."),
    ] = "active",
    asset: Annotated[str | None, typer.Option(help="This asset and those below it.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule's alerts.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """List alerts, newest first (by default those not resolved)."""
    from shopfloor.services import alerts as service

    if state not in service.STATE_FILTERS:
        fail(
            f"--state must be one of {', '.join(service.STATE_FILTERS)}, got {state!r}",
            EXIT_CONFIG,
        )
    rows = with_store(
        load(project, build_pipelines=False),
        lambda store: service.list_alerts(store, state=state, asset=asset, rule=rule, limit=limit),
    )
    if as_json(json_, rows):
        return
    print_table(
        Listing(
            f"{len(rows)} {state} alert(s)",
            ("id", "state", "severity", "rule", "asset", "opened", "message"),
            service.summary_rows(rows),
        )
    )


@app.command()
def show(alert_id: IdArgument, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Show one alert with its history (every change: who, when, from, to, why)."""
    from shopfloor.services import alerts as service

    result = with_store(
        load(project, build_pipelines=False), lambda store: service.show_alert(store, alert_id)
    )
    if as_json(json_, result):
        return
    for key in ("id", "rule", "asset", "signal", "severity", "state", "message", "value"):
        console.print(f"{key}: {result[key]}", highlight=False)
    for key in ("opened", "resolved", "shelved_until", "verdict", "verdict_comment"):
        if result[key]:
            console.print(f"{key}: {result[key]}", highlight=False)
    rows = [
        (c["at"], c["action"], c["who"], c["from"] or "-", c["to"], c["comment"])
        for c in result["history"]
    ]
    print_table(Listing("history", ("at", "action", "who", "from", "to", "comment"), rows))


@app.command()
def ack(
    alert_id: IdArgument,
    comment: CommentOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Acknowledge alert ID: someone is on it."""
    _changed(
        project,
        json_,
        lambda s, store: s.acknowledge_alert(store, alert_id, who=_who(by), comment=comment),
    )


@app.command()
def resolve(
    alert_id: IdArgument,
    comment: CommentOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Resolve alert ID."""
    _changed(
        project,
        json_,
        lambda s, store: s.resolve_alert(store, alert_id, who=_who(by), comment=comment),
    )


@app.command()
def shelve(
    alert_id: IdArgument,
    for_: Annotated[
        str, typer.Option("--for", help="How long: 30min, 2h, 1d (notifications are held).")
    ] = "1h",
    comment: CommentOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Shelve alert ID: no notifications until the shelf expires."""
    from shopfloor.model import parse_duration_s

    try:
        duration_s = parse_duration_s(for_)
    except ValueError as err:
        fail(f"--for: {err}", EXIT_CONFIG)
    _changed(
        project,
        json_,
        lambda s, store: s.shelve_alert(
            store, alert_id, who=_who(by), duration_s=duration_s, comment=comment
        ),
    )


@app.command()
def unshelve(
    alert_id: IdArgument,
    comment: CommentOption = "",
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """End the shelf of alert ID now."""
    _changed(
        project,
        json_,
        lambda s, store: s.unshelve_alert(store, alert_id, who=_who(by), comment=comment),
    )


@app.command()
def feedback(
    alert_id: IdArgument,
    verdict: Annotated[str, typer.Argument(help="confirmed or false_alarm.")],
    comment: CommentOption = "",
    fault: Annotated[
        str | None,
        typer.Option(help="The fault type of a confirmed alert (default: the rule's name)."),
    ] = None,
    by: ByOption = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Say whether alert ID was right; kept as a label (fault:<type> or healthy) for training."""
    if verdict not in ("confirmed", "false_alarm"):
        fail(f"VERDICT must be confirmed or false_alarm, got {verdict!r}", EXIT_CONFIG)
    _changed(
        project,
        json_,
        lambda s, store: s.alert_feedback(
            store, alert_id, verdict, who=_who(by), comment=comment, fault=fault
        ),
    )
