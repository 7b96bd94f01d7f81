"""Settings of the HTTP API, the project file's ``api:`` section."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["LOOPBACK_HOSTS", "ApiConfig", "is_loopback"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
"""Host names the API always answers to."""


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name or an address) only reaches this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiConfig(BaseModel):
    """Where the platform's API listens, and what it accepts. Loopback by default.

    Every route but ``/healthz`` needs a token (``shopfloor tokens create --role R``).
    Listening on an address other than loopback needs TLS (``tls_certfile`` and
    ``tls_keyfile``): without it, :func:`~shopfloor.config.load_project` refuses the file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header names accepted besides localhost, 127.0.0.1 and [::1].",
    )
    max_body_bytes: int = Field(
        default=256 * 1024 * 1024,
        gt=0,
        description="Largest request body (Arrow IPC writes); larger ones get 413.",
    )
    max_json_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest JSON request body; larger ones get 413.",
    )
    max_image_bytes: int = Field(
        default=20 * 1024 * 1024,
        gt=0,
        description="Largest image upload (POST /api/v1/images/...); larger ones get 413.",
    )
    tls_certfile: Path | None = Field(
        default=None, description="PEM certificate; needed to listen beyond loopback."
    )
    tls_keyfile: Path | None = Field(
        default=None, description="PEM private key of the certificate."
    )

    @model_validator(mode="after")
    def _tls_beyond_loopback(self) -> ApiConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together: set both or neither")
        if self.enabled and not is_loopback(self.host) and self.tls_certfile is None:
            raise ValueError(
                f"host {self.host!r} is reachable from other machines: the API sends tokens "
                "and data there only over TLS; set tls_certfile and tls_keyfile, or listen on "
                "127.0.0.1"
            )
        return self

    @property
    def tls(self) -> bool:
        """True when the API serves HTTPS."""
        return self.tls_certfile is not None
