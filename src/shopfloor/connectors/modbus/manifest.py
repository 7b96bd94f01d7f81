"""Manifest of the Modbus TCP connector."""

from shopfloor.connectors.modbus.config import ModbusConfig
from shopfloor.connectors.registry import ConnectorManifest

MANIFEST = ConnectorManifest(
    type="modbus",
    config=ModbusConfig,
    connector="shopfloor.connectors.modbus.client:ModbusConnector",
    description="Modbus TCP client: register maps, block reads, polling groups, writes.",
    writable=True,
)
