"""Manifest of the replay connector."""

from shopfloor.connectors.registry import ConnectorManifest
from shopfloor.connectors.replay.config import ReplayConfig

MANIFEST = ConnectorManifest(
    type="replay",
    config=ReplayConfig,
    connector="shopfloor.connectors.replay.client:ReplayConnector",
    description="Stream a recorded file into the platform at real time, faster or flat out.",
)
