"""Manifest of the OPC UA connector."""

from shopfloor.connectors.opcua.config import OpcUaConfig
from shopfloor.connectors.registry import ConnectorManifest

MANIFEST = ConnectorManifest(
    type="opcua",
    config=OpcUaConfig,
    connector="shopfloor.connectors.opcua.client:OpcUaConnector",
    description="OPC UA client: subscriptions or polling, arrays, security, history backfill.",
    writable=True,
)
