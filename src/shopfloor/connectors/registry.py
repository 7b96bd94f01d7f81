"""Which connector types exist: the built-in ones and those installed as plug-ins.

A connector type is one folder with a ``manifest.py`` exposing ``MANIFEST``; third-party
packages add theirs with an entry point in the ``shopfloor.connectors`` group pointing at
their manifest, as Home Assistant integrations declare theirs.
"""

from __future__ import annotations

import builtins
import importlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points

from shopfloor.connectors.config import ConnectorConfig
from shopfloor.errors import ConfigError

__all__ = ["ConnectorManifest", "connector_types", "load_connector_class", "manifest_for"]


@dataclass(frozen=True)
class ConnectorManifest:
    """What the engine needs to know about a connector type.

    Parameters
    ----------
    type
        The ``type:`` value in the project file.
    config
        Its pydantic settings model (a :class:`ConnectorConfig` subclass).
    connector
        ``"module:Class"`` of the connector, imported only when one is started.
    description
        One line for ``shopfloor connectors`` and the docs.
    writable
        Whether its connector can write back to its source (it then implements
        :class:`~shopfloor.connectors.base.Writable`): ``shopfloor validate`` refuses a
        write-back target on a connector type without it.
    """

    type: str
    config: builtins.type[ConnectorConfig]
    connector: str
    description: str = ""
    writable: bool = False


_BUILTIN = (
    "shopfloor.connectors.hotfolder.manifest",
    "shopfloor.connectors.modbus.manifest",
    "shopfloor.connectors.mqtt.manifest",
    "shopfloor.connectors.opcua.manifest",
    "shopfloor.connectors.replay.manifest",
    "shopfloor.connectors.sparkplug.manifest",
)


@lru_cache(maxsize=1)
def connector_types() -> dict[str, ConnectorManifest]:
    """Every known connector type by name."""
    found: dict[str, ConnectorManifest] = {}
    for module_name in _BUILTIN:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and module_name.startswith(err.name):
                continue
            raise
        manifest: ConnectorManifest = module.MANIFEST
        found[manifest.type] = manifest
    for entry in entry_points(group="shopfloor.connectors"):
        manifest = entry.load()
        if not isinstance(manifest, ConnectorManifest):
            raise ConfigError(
                f"entry point {entry.name!r} ({entry.value}) is not a ConnectorManifest"
            )
        found[manifest.type] = manifest
    return found


def manifest_for(type_name: str) -> ConnectorManifest:
    """The manifest of ``type_name``; ``ConfigError`` lists the known types."""
    types = connector_types()
    try:
        return types[type_name]
    except KeyError:
        known = ", ".join(sorted(types)) or "none installed"
        raise ConfigError(f"unknown connector type {type_name!r} (known: {known})") from None


def load_connector_class(manifest: ConnectorManifest) -> type:
    """Import the connector class named by a manifest."""
    module_name, _, class_name = manifest.connector.partition(":")
    module = importlib.import_module(module_name)
    cls: type = getattr(module, class_name)
    return cls
