"""Look into a Modbus device before connecting it: scan a range, export it as signals."""

from __future__ import annotations

from pathlib import Path

from shopfloor.connectors.modbus.address import Table, parse_address
from shopfloor.connectors.modbus.client import ModbusLink
from shopfloor.connectors.modbus.scan import ScannedAddress, scan_range, scan_signals
from shopfloor.errors import ConfigError
from shopfloor.services.addresses import split_host_port
from shopfloor.services.options import ScanOptions

__all__ = ["ScanOptions", "check_scan", "export_scan", "scan", "split_target"]


def split_target(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST[:PORT]`` (port 502 when none is given).

    >>> split_target("10.0.0.5"), split_target("plc-3:1502"), split_target("[::1]:502")
    (('10.0.0.5', 502), ('plc-3', 1502), ('::1', 502))
    """
    return split_host_port(text, default_port=502, what="target")


def check_scan(options: ScanOptions) -> tuple[str, int, Table]:
    """Host, port and table of ``options``.

    Raises
    ------
    ConfigError
        Naming the option (``--table``, ``--export``) or the target and what is wrong.
    """
    host, port = split_target(options.target)
    try:
        table = parse_address(f"{options.table}:0").table
    except ValueError:
        raise ConfigError(
            f"--table {options.table!r}: use holding, input, coils or discrete"
        ) from None
    if options.export is not None and options.export.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"--export {options.export}: use a .yaml file name")
    return host, port, table


async def scan(options: ScanOptions) -> list[ScannedAddress]:
    """Connect, read the range (halving what the device refuses), disconnect.

    Raises
    ------
    ConfigError, ConnectorError
        When the options are wrong or the device cannot be reached.
    """
    host, port, table = check_scan(options)
    link = ModbusLink(host, port, options.timeout_s)
    await link.open()
    try:
        return await scan_range(link, table, options.start, options.count, options.unit)
    finally:
        link.close()


def export_scan(found: list[ScannedAddress], path: Path, connector: str) -> int:
    """Write one signal per address found to ``path`` (YAML); how many were written."""
    path.write_text(scan_signals(found, connector), encoding="utf-8")
    return len(found)
