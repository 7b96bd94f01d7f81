"""``shopfloor modbus``: look into a Modbus device before connecting it."""

from __future__ import annotations

import dataclasses

from shopfloor.cli.common import JsonOption, checked, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, err_console, print_table
from shopfloor.services.options import ScanOptions

__all__ = ["app"]

app = group_app("modbus")


@app.command()
@options_of(ScanOptions, arguments=("target",))
def scan(options: ScanOptions, json_: JsonOption = False) -> None:
    """Read a range of addresses and show what answers, raw and decoded; export as signals."""
    from shopfloor.services.listing import registers_listing
    from shopfloor.services.modbus import check_scan, export_scan
    from shopfloor.services.modbus import scan as scan_range

    checked(check_scan, options)
    found = run_async(lambda: scan_range(options))
    if options.export is not None:
        count = export_scan(found, options.export, options.connector)
        err_console.print(f"wrote {count} signals to {options.export}")
    if not as_json(json_, [dataclasses.asdict(a) for a in found]):
        print_table(registers_listing(options.target, found))
