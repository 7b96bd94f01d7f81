"""Server certificate for the simulator's secure endpoints, made on first use.

The key (PEM) and a self-signed application certificate (DER) are generated with
``asyncua.crypto.cert_gen`` into ``pki_dir`` and reused while they are valid and name the
right application URI. Blocking (RSA key generation): call it through
``asyncio.to_thread``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from shopfloor.errors import ConfigError

__all__ = ["SERVER_CERT_FILE", "SERVER_KEY_FILE", "ensure_server_certificate"]

logger = logging.getLogger(__name__)

SERVER_CERT_FILE = "server_cert.der"
SERVER_KEY_FILE = "server_key.pem"
_MIN_REMAINING = timedelta(days=7)


def _usable(cert_path: Path, app_uri: str) -> bool:
    try:
        cert = x509.load_der_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    if cert.not_valid_after_utc - datetime.now(UTC) < _MIN_REMAINING:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return app_uri in san.get_values_for_type(x509.UniformResourceIdentifier)


def ensure_server_certificate(pki_dir: Path, app_uri: str, host: str) -> tuple[Path, Path]:
    """Return ``(certificate, private key)`` paths, generating them when needed.

    Parameters
    ----------
    pki_dir
        Folder for ``server_cert.der`` and ``server_key.pem`` (created if missing).
    app_uri
        The server's application URI; OPC UA clients check it against the certificate.
    host
        The address the server binds; added to the subject alternative names with
        ``localhost``, ``127.0.0.1`` and this machine's host name.
    """
    try:
        pki_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"pki_dir {str(pki_dir)!r} cannot be created: {err}") from err
    cert_path = pki_dir / SERVER_CERT_FILE
    key_path = pki_dir / SERVER_KEY_FILE
    if key_path.is_file() and _usable(cert_path, app_uri):
        return cert_path, key_path
    key = cert_gen.generate_private_key()
    hostname = socket.gethostname()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(app_uri)]
    for dns in dict.fromkeys([hostname, "localhost"]):
        names.append(x509.DNSName(dns))
    for address in dict.fromkeys(["127.0.0.1", host]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        "shopfloor CNC simulator",
        {"organizationName": "shopfloor"},
        names,
        extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        days=365,
    )
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    logger.info("cnc_sim.certificate_generated path=%s app_uri=%s", cert_path, app_uri)
    return cert_path, key_path
