"""Settings of a Sparkplug B host application connector.

The broker keys are :class:`~shopfloor.connectors.mqtt.connection.MqttBrokerSettings`' (TLS,
credentials, QoS); the rest says which edge nodes to follow and where their metrics land::

    - name: sparkplug
      type: sparkplug
      host: broker.plant.local
      host_id: shopfloor                    # STATE topic: spBv1.0/STATE/shopfloor
      groups: [Line1, Line2]                # default: every group (spBv1.0/#)
      asset_template: "acme/plant1/{group}/{edge_node}/main/{device}"
      node_asset: node                      # {device} of an edge node's own metrics
      assets:                               # explicit paths win over the template
        Line1/press-gw/press-3: acme/plant1/pressing/line1/cell2/press-3
      auto_signals: true                    # births create the signals they describe
      rebirth_interval_s: 5                 # at most one rebirth request per node this often
      flush_interval_ms: 100                # scalar values go on in one batch per signal
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.mqtt.connection import MqttBrokerSettings
from shopfloor.connectors.sparkplug.mapping import (
    AssetMapping,
    check_template,
    parse_source,
)
from shopfloor.connectors.sparkplug.topics import NAMESPACE, state_topic, validate_id
from shopfloor.model import AssetPath, validate_segment

__all__ = ["SparkplugConfig"]


class SparkplugConfig(ConnectorConfig, MqttBrokerSettings):
    """A Sparkplug B host application: follows edge nodes, stores every metric they report.

    Examples
    --------
    >>> config = SparkplugConfig(name="sparkplug", type="sparkplug", groups=["Line1"])
    >>> config.subscriptions, config.state_topic
    (['spBv1.0/Line1/#'], 'spBv1.0/STATE/shopfloor')
    """

    type: str = "sparkplug"
    host_id: str = Field(
        default="shopfloor",
        description="The host application id: its STATE topic is spBv1.0/STATE/<host_id>.",
    )
    groups: list[str] = Field(
        default_factory=list, description="Group ids to follow; empty: every group."
    )
    asset_template: str = Field(
        default="sparkplug/plant/{group}/{edge_node}/devices/{device}",
        description="ISA-95 asset path of a device's metrics: names {group}, {edge_node}, "
        "{device}.",
    )
    node_asset: str = Field(
        default="node", description="The {device} of an edge node's own metrics."
    )
    assets: dict[str, AssetPath] = Field(
        default_factory=dict,
        description="Explicit asset paths by 'group/edge_node[/device]' (win over the template).",
    )
    auto_signals: bool = Field(
        default=True,
        description="Create a signal for every metric a birth describes; off: only metrics "
        "bound with source '<group>/<edge node>[/<device>]:<metric>' are stored, the others "
        "dead-lettered.",
    )
    rebirth_interval_s: float = Field(
        default=5.0, gt=0, description="At most one rebirth request per edge node this often."
    )
    flush_interval_ms: int = Field(
        default=100,
        ge=1,
        le=60_000,
        description="Scalar values are handed on in one batch per signal this often.",
    )
    persistent_session: bool = Field(
        default=False,
        description="Sparkplug hosts start clean: births rebuild their state after a reconnect.",
    )

    @field_validator("host_id")
    @classmethod
    def _host_id(cls, value: str) -> str:
        return validate_id(value, "host_id")

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        for group in value:
            validate_id(group, "group id")
        return value

    @field_validator("asset_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value)

    @field_validator("node_asset")
    @classmethod
    def _node_asset(cls, value: str) -> str:
        return validate_segment(value, "node_asset")

    @field_validator("assets")
    @classmethod
    def _assets(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            parts = key.split("/")
            if len(parts) not in (2, 3):
                raise ValueError(f"assets key {key!r} is not 'group/edge_node[/device]'")
            for part in parts:
                validate_id(part, f"assets key {key!r}: id")
        return value

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters the host subscribes to."""
        if not self.groups:
            return [f"{NAMESPACE}/#"]
        return [f"{NAMESPACE}/{group}/#" for group in self.groups]

    @property
    def state_topic(self) -> str:
        """Where the host publishes its STATE."""
        return state_topic(self.host_id)

    @property
    def mapping(self) -> AssetMapping:
        """Where each edge node's and device's metrics land."""
        return AssetMapping(self.asset_template, dict(self.assets), self.node_asset)

    def source_problem(self, source: str, options: Mapping[str, Any]) -> str | None:
        """What is wrong with a bound signal's ``source``, or ``None``."""
        try:
            group, _, _, _ = parse_source(source)
        except ValueError as err:
            return str(err)
        if self.groups and group not in self.groups:
            return f"source {source!r}: group {group!r} is not in groups {self.groups}"
        return None
