"""Manifest of the Sparkplug B host application connector."""

from shopfloor.connectors.registry import ConnectorManifest
from shopfloor.connectors.sparkplug.config import SparkplugConfig

MANIFEST = ConnectorManifest(
    type="sparkplug",
    config=SparkplugConfig,
    connector="shopfloor.connectors.sparkplug.client:SparkplugConnector",
    description="Sparkplug B host application over MQTT: births become signals, data records.",
)
