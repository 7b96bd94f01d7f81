"""Brokers for the MQTT tests: mosquitto on loopback with a password file or TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.receivers import mosquitto

__all__ = ["TlsFiles", "make_certificates", "mosquitto_with_password", "mosquitto_with_tls"]


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server certificate for 127.0.0.1, signed by it (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> TlsFiles:
    """Write a fresh CA and a server certificate for 127.0.0.1 and localhost to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shopfloor test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return files


def _readable_config() -> str:
    # run as root, mosquitto drops to its own user, which cannot read pytest's tmp_path
    return "user root\n" if os.geteuid() == 0 else ""


@contextmanager
def mosquitto_with_password(folder: Path, user: str, password: str) -> Iterator[int]:
    """A broker that takes only ``user`` with ``password``; yields its port."""
    passwords = folder / "passwords"
    passwords.touch()
    subprocess.run(
        ["mosquitto_passwd", "-b", str(passwords), user, password], check=True, timeout=30
    )
    passwords.chmod(0o600)
    config = f"{_readable_config()}allow_anonymous false\npassword_file {passwords}\n"
    with mosquitto(folder, config) as port:
        yield port


@contextmanager
def mosquitto_with_tls(folder: Path) -> Iterator[tuple[int, TlsFiles]]:
    """A broker that speaks TLS only, with a certificate for 127.0.0.1; yields port and files."""
    files = make_certificates(folder)
    config = _readable_config() + (
        f"allow_anonymous true\ncafile {files.ca}\ncertfile {files.cert}\nkeyfile {files.key}\n"
    )
    with mosquitto(folder, config) as port:
        yield port, files
