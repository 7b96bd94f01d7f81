"""``shopfloor mqtt``: look into what devices publish on a broker before connecting them."""

from __future__ import annotations

from shopfloor.cli.common import JsonOption, checked, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, err_console, print_table
from shopfloor.services.options import ListenOptions

__all__ = ["app"]

app = group_app("mqtt")


@app.command()
@options_of(ListenOptions)
def listen(options: ListenOptions, json_: JsonOption = False) -> None:
    """Subscribe for a while and show each topic's payload kind, fields and rate; export."""
    from shopfloor.services.listing import topics_listing
    from shopfloor.services.mqtt import check_listen, export_listen
    from shopfloor.services.mqtt import listen as listen_to

    checked(check_listen, options)
    listened, seconds = run_async(lambda: listen_to(options))
    if options.export is not None:
        count = export_listen(listened, options, seconds)
        err_console.print(f"wrote {count} signals to {options.export}")
    rows = listened.as_rows(seconds)
    if not as_json(json_, rows):
        print_table(topics_listing(options.broker, rows, seconds))
