"""Manifest of the hot-folder connector."""

from shopfloor.connectors.hotfolder.config import HotFolderConfig
from shopfloor.connectors.registry import ConnectorManifest

MANIFEST = ConnectorManifest(
    type="hotfolder",
    config=HotFolderConfig,
    connector="shopfloor.connectors.hotfolder.client:HotFolderConnector",
    description="Camera images dropped into a folder, each stored once, even across restarts.",
)
