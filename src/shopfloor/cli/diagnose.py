"""``shopfloor diagnose``: which part of a bearing is damaged (see ``docs/diagnose.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load, with_store
from shopfloor.cli.lazy import GROUPS
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, console, print_table
from shopfloor.services import diagnose as service

__all__ = ["app"]

app = typer.Typer(
    help=GROUPS["diagnose"].help,
    add_completion=False,
    context_settings={"allow_interspersed_args": True},
)


@app.callback(invoke_without_command=True)
@options_of(service.DiagnoseOptions)
def diagnose(
    o: service.DiagnoseOptions,
    file: Annotated[
        Path | None,
        typer.Argument(help="A recording (.mat, .npy, .npz, .wav); omit for stored data."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the envelope spectrum with markers to PNG.")
    ] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Diagnose a rolling-element bearing: inner race, outer race, ball, cage or none.

    From a file: FILE --channel SOURCE --rate HZ --rpm R and the geometry
    (--bearing-elements, --element-diameter-mm, --pitch-diameter-mm, --contact-angle-deg).
    From stored data: --asset A --signal S --from T0 --to T1 (geometry from the asset).
    """
    plan = checked(o.plan, file)
    if isinstance(plan, service.FileDiagnoseOptions):
        result = checked(service.diagnose_file, plan)
    else:
        proj = load(project)
        result = with_store(proj, lambda store: service.diagnose_stored(proj, store, plan))
    if plot is not None:
        service.plot_diagnosis(result, plot)
    if as_json(json_, service.diagnosis_json(result)):
        return
    listing, footer = service.diagnosis_listing(result)
    print_table(listing)
    console.print(footer + (f"; wrote {plot}" if plot is not None else ""), highlight=False)
