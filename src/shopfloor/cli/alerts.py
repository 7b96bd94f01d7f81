"""``shopfloor alerts``: list, show, acknowledge, resolve, shelve and give feedback on alerts.

The work, the options and the wording are in :mod:`shopfloor.services.alerts`; this module
parses and prints. Who made a change is ``--by`` (default: the login name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, current_user, load, with_store
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, console, print_table
from shopfloor.services import alerts as service

__all__ = ["app"]

app = group_app("alerts")


@app.command("list")
@options_of(service.AlertListOptions)
def list_alerts(
    o: service.AlertListOptions, project: ProjectOption = None, json_: JsonOption = False
) -> None:
    """List alerts, newest first (by default those not resolved)."""
    rows = with_store(load(project, build_pipelines=False), lambda s: service.list_alerts(s, o))
    if not as_json(json_, rows):
        print_table(service.alerts_listing(rows, o.state))


@app.command()
def show(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (see 'shopfloor alerts list').")],
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Show one alert with its history (every change: who, when, from, to, why)."""
    proj = load(project, build_pipelines=False)
    result = with_store(proj, lambda store: service.show_alert(store, alert_id))
    if not as_json(json_, result):
        lines, history = service.alert_lines(result)
        console.print(*lines, sep="\n", highlight=False)
        print_table(history)


def _change(action: str) -> Callable[..., None]:
    """The command making change ``action`` (:data:`~shopfloor.services.alerts.ACTIONS`)."""
    options, doc = service.ACTIONS[action]

    def command(
        o: service.AlertChangeOptions, project: ProjectOption = None, json_: JsonOption = False
    ) -> None:
        proj = load(project, build_pipelines=False)
        result = with_store(
            proj, lambda store: service.change_alert(store, action, o, who=current_user())
        )
        if not as_json(json_, result):
            console.print(*service.change_lines(result), sep="\n", highlight=False)

    command.__doc__ = doc
    arguments = ("alert_id", "verdict") if action == "feedback" else ("alert_id",)
    return options_of(options, arguments=arguments)(command)


for _action in service.ACTIONS:
    app.command(_action)(_change(_action))
