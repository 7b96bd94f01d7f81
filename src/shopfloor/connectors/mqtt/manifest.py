"""Manifest of the MQTT connector."""

from shopfloor.connectors.mqtt.config import MqttConfig
from shopfloor.connectors.registry import ConnectorManifest

MANIFEST = ConnectorManifest(
    type="mqtt",
    config=MqttConfig,
    connector="shopfloor.connectors.mqtt.client:MqttConnector",
    description="MQTT subscriber: JSON values, binary waveform blocks and images by topic.",
)
