"""Settings of an OPC UA connector."""

from __future__ import annotations

import builtins
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfloor.connectors.config import ConnectorConfig

__all__ = [
    "SECURITY_MODES",
    "DataChangeTrigger",
    "OpcUaConfig",
    "OpcUaSignalOptions",
    "security_mode_of",
]

SECURITY_MODES = {
    "none": "None",
    "sign": "Sign",
    "encrypt": "SignAndEncrypt",
    "signandencrypt": "SignAndEncrypt",
}
"""Accepted spellings (any case; the CLI's and the YAML's) → the OPC UA name."""


def security_mode_of(text: str) -> str:
    """The OPC UA message security mode ``text`` names, in any case.

    ``none``, ``sign`` and ``encrypt`` (the CLI's words) or ``None``, ``Sign`` and
    ``SignAndEncrypt`` (OPC UA's names, used in factory.yaml).

    Examples
    --------
    >>> security_mode_of("encrypt"), security_mode_of("SIGN"), security_mode_of("None")
    ('SignAndEncrypt', 'Sign', 'None')
    """
    mode = SECURITY_MODES.get(text.strip().lower().replace("_", "").replace("-", ""))
    if mode is None:
        import difflib

        names = ["None", "Sign", "SignAndEncrypt", "none", "sign", "encrypt"]
        close = difflib.get_close_matches(text.strip(), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"security mode: got {text!r}{hint}; use none, sign or encrypt "
            "(or None, Sign, SignAndEncrypt)"
        )
    return mode


DataChangeTrigger = Literal["status", "status_value", "status_value_timestamp"]
"""What makes the server report a monitored value (OPC UA ``DataChangeTrigger``).

``status_value_timestamp`` reports every new source timestamp, so a value sampled again
unchanged (a spindle at rest) is recorded as it is in the server's history;
``status_value`` reports changes only (report by exception); ``status`` status changes.
"""


class OpcUaSignalOptions(BaseModel):
    """Per-signal options (``source_options`` of a signal bound to an OPC UA connector)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["subscribe", "poll"] | None = None
    sampling_interval_ms: float | None = Field(default=None, ge=0)
    queue_size: int | None = Field(default=None, ge=0)
    deadband: float | None = Field(default=None, ge=0, description="Absolute deadband.")
    data_change_trigger: DataChangeTrigger | None = Field(
        default=None, description="Overrides the connector's."
    )
    channel_nodes: list[str] | None = Field(
        default=None, description="Waveforms with several channels: one array node each."
    )
    sample_rate_hz: float | None = Field(default=None, gt=0, description="Overrides the signal's.")
    samples_per_block: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Waveforms: samples in each array. A block is always one array value (its length "
            "is the block's length); when this is set, arrays of another length are "
            "dead-lettered instead of stored."
        ),
    )


class OpcUaConfig(ConnectorConfig):
    """One OPC UA server.

    Example::

        - name: cnc
          type: opcua
          endpoint: opc.tcp://127.0.0.1:4840
          security_mode: SignAndEncrypt        # None, Sign, SignAndEncrypt (any case; or encrypt)
          username_env: CNC_OPCUA_USER         # secrets come from the environment
          password_env: CNC_OPCUA_PASSWORD
          publishing_interval_ms: 100

    Signals bound to it give the node id as ``source`` and may set per-signal options in
    ``source_options`` (see :class:`OpcUaSignalOptions`).
    """

    signal_options: ClassVar[builtins.type[BaseModel]] = OpcUaSignalOptions

    type: Literal["opcua"] = "opcua"
    endpoint: str = Field(description="opc.tcp://host:port[/path]")
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    security_policy: Literal["Basic256Sha256"] = "Basic256Sha256"
    certificate_dir: str | None = Field(
        default=None, description="Client certificate folder (default: the project's state)."
    )
    server_certificate: str | None = Field(
        default=None, description="Pin the server certificate (DER or PEM file)."
    )
    username_env: str | None = Field(default=None, description="Variable holding the user name.")
    password_env: str | None = Field(default=None, description="Variable holding the password.")
    application_uri: str | None = None
    request_timeout_s: float = Field(default=10.0, gt=0)
    session_timeout_s: float = Field(default=60.0, gt=0)
    watchdog_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="Connection check period; a check slower than this counts as a loss.",
    )
    publishing_interval_ms: float = Field(default=100.0, gt=0)
    sampling_interval_ms: float = Field(default=0.0, ge=0, description="0: as fast as the server.")
    queue_size: int = Field(default=100, ge=0, description="Server-side queue per monitored item.")
    data_change_trigger: DataChangeTrigger = Field(
        default="status_value_timestamp",
        description="Report every sample (default), or changes of value or status only.",
    )
    mode: Literal["subscribe", "poll"] = "subscribe"
    poll_interval_ms: float = Field(default=1000.0, gt=0)
    flush_interval_ms: float = Field(default=100.0, gt=0, description="Batching of scalar values.")
    history_backfill: bool = Field(default=True, description="Fill gaps with HistoryRead.")
    max_backfill_s: float = Field(default=86400.0, gt=0)

    @field_validator("security_mode", mode="before")
    @classmethod
    def _security_mode(cls, value: object) -> object:
        return security_mode_of(value) if isinstance(value, str) else value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not value.startswith("opc.tcp://") or len(value) <= len("opc.tcp://"):
            raise ValueError(f"endpoint {value!r} must look like opc.tcp://host:port")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both username_env and password_env, or neither")
        return self
