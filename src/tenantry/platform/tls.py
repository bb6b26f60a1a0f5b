"""A local certificate authority and the TLS settings every tenantry listener and client uses.

Every listener speaks TLS 1.2+ with forward-secret AEAD suites only, including on a laptop, so
`tenantry up` makes its own CA and one server certificate per process instead of running plain
HTTP locally.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tenantry.platform.files import directory_lock, write_atomically

# TLS 1.2 suites: ephemeral ECDH key exchange (forward secrecy) with an AEAD cipher only.
# TLS 1.3 suites are configured separately by OpenSSL and are all forward-secret AEADs.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!PSK:!SRP:!DSS"
CA_VALIDITY = datetime.timedelta(days=3650)
SERVER_VALIDITY = datetime.timedelta(days=397)
# A certificate closer than this to its expiry is reissued rather than reused.
RENEW_BEFORE = datetime.timedelta(days=30)
_CERT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


def ensure_ca(tls_dir: Path) -> Path:
    """Create the local CA once (`ca.pem`, `ca-key.pem` 0600) and return the path of `ca.pem`."""
    ca_cert = tls_dir / "ca.pem"
    ca_key = tls_dir / "ca-key.pem"
    with directory_lock(tls_dir):
        if ca_cert.exists() and ca_key.exists():
            return ca_cert
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenantry local CA")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
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
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_atomically(ca_key, _private_pem(key), 0o600)
        write_atomically(ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return ca_cert


def ensure_server_cert(
    tls_dir: Path, name: str, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> tuple[Path, Path]:
    """Issue `<name>.pem` / `<name>-key.pem` (0600) for `hosts` once; return (cert, key) paths.

    An existing certificate is reused while it names the same hosts, was issued by the current
    CA and is not about to expire; otherwise it is reissued.
    """
    if not _CERT_NAME.fullmatch(name) or name == "ca":
        raise ValueError(f"invalid certificate name {name!r}")
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    ca_path = ensure_ca(tls_dir)
    cert_path = tls_dir / f"{name}.pem"
    key_path = tls_dir / f"{name}-key.pem"
    sans = [_san(host) for host in hosts]
    with directory_lock(tls_dir):
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        if key_path.exists() and _still_good(cert_path, ca_cert, sans):
            return cert_path, key_path
        ca_key = serialization.load_pem_private_key(
            (tls_dir / "ca-key.pem").read_bytes(), password=None
        )
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError("the local CA key is not an EC key")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + SERVER_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_atomically(key_path, _private_pem(key), 0o600)
        write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The TLS settings of every tenantry listener: TLS 1.2+, forward-secret AEAD suites only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= (
        ssl.OP_NO_COMPRESSION
        | ssl.OP_NO_RENEGOTIATION
        | ssl.OP_CIPHER_SERVER_PREFERENCE
        | ssl.OP_SINGLE_ECDH_USE
    )
    context.load_cert_chain(certfile=cert, keyfile=key)
    return context


def client_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts only the tenantry CA, checks host names, and needs TLS 1.2+."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _still_good(cert_path: Path, ca_cert: x509.Certificate, sans: list[x509.GeneralName]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.verify_directly_issued_by(ca_cert)
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    expires = cert.not_valid_after_utc
    fresh = expires - datetime.datetime.now(datetime.UTC) > RENEW_BEFORE
    return fresh and set(names) == set(sans)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
