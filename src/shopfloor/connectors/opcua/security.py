"""The client's application certificate: made on first use, kept in the project."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

__all__ = ["ensure_client_certificate"]


async def ensure_client_certificate(folder: Path, application_uri: str) -> tuple[Path, Path]:
    """Return (certificate, private key) paths, generating a self-signed pair if missing.

    The certificate's application URI must match the client's, or servers refuse it.
    """
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert = folder / "client_cert.der"
    key = folder / "client_key.pem"
    if not await asyncio.to_thread(lambda: cert.exists() and key.exists()):
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        host = socket.gethostname()
        await setup_self_signed_certificate(
            key,
            cert,
            application_uri,
            host,
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            {
                "countryName": "DE",
                "organizationName": "shopfloor",
                "commonName": f"shopfloor@{host}",
            },
        )
        await asyncio.to_thread(key.chmod, 0o600)
    return cert, key
