"""The local CA, server certificates, and the TLS policy every listener enforces."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import tls_probes as probes
from tenantry.platform.tls import (
    client_ssl_context,
    ensure_ca,
    ensure_server_cert,
    server_ssl_context,
)

TLS11 = ssl.TLSVersion.TLSv1_1
TLS12 = ssl.TLSVersion.TLSv1_2
NON_FS_SUITE = "AES128-GCM-SHA256"


def _rsa_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed RSA certificate: RSA key exchange suites need one to be negotiable at all."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "rsa.pem", directory / "rsa-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _permissive_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A control server accepting everything OpenSSL can still speak."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    return tmp_path / "tls"


@pytest.fixture
def server_pair(tls_dir: Path) -> tuple[Path, Path]:
    return ensure_server_cert(tls_dir, "edge-eu")


def test_ca_is_created_once_with_private_key_0600(tls_dir: Path) -> None:
    ca = ensure_ca(tls_dir)
    first = ca.read_bytes()
    assert ensure_ca(tls_dir) == ca
    assert ca.read_bytes() == first
    assert stat.S_IMODE((tls_dir / "ca-key.pem").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(first)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime >= datetime.timedelta(days=3649)


def test_server_cert_has_ip_and_dns_sans_and_is_reused(
    tls_dir: Path, server_pair: tuple[Path, Path]
) -> None:
    cert_path, key_path = server_pair
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    ca = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ensure_server_cert(tls_dir, "edge-eu") == server_pair
    assert cert_path.read_bytes() == cert.public_bytes(serialization.Encoding.PEM)


def test_server_cert_is_reissued_when_hosts_change(
    tls_dir: Path, server_pair: tuple[Path, Path]
) -> None:
    before = server_pair[0].read_bytes()
    ensure_server_cert(tls_dir, "edge-eu", hosts=("127.0.0.1", "edge.internal"))
    after = x509.load_pem_x509_certificate(server_pair[0].read_bytes())
    assert server_pair[0].read_bytes() != before
    sans = after.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["edge.internal"]


@pytest.mark.parametrize("name", ["ca", "../x", "Edge", "", "a/b"])
def test_unsafe_certificate_names_are_refused(tls_dir: Path, name: str) -> None:
    with pytest.raises(ValueError):
        ensure_server_cert(tls_dir, name)


def test_server_context_offers_only_forward_secret_aead_suites(
    server_pair: tuple[Path, Path],
) -> None:
    context = server_ssl_context(*server_pair)
    assert context.minimum_version == TLS12
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION
    suites = context.get_ciphers()
    assert suites
    for suite in suites:
        assert suite["aead"], suite["name"]
        if suite["protocol"] == "TLSv1.2":
            assert suite["kea"] == "kx-ecdhe", suite["name"]


def test_modern_clients_connect_with_verification(
    tls_dir: Path, server_pair: tuple[Path, Path]
) -> None:
    client = client_ssl_context(tls_dir / "ca.pem")
    with probes.tls_listener(server_ssl_context(*server_pair)) as port:
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            client.maximum_version = version
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                assert tls.version() == version.name.replace("_", ".")
                cipher_name = tls.cipher()[0]
                assert version == ssl.TLSVersion.TLSv1_3 or cipher_name.startswith("ECDHE-")
        assert probes.handshake("127.0.0.1", port, max_version=None, ciphers=None)
        assert probes.handshake("127.0.0.1", port, max_version=TLS12, ciphers=None)


def test_tls11_client_is_refused(tmp_path: Path) -> None:
    cert, key = _rsa_cert(tmp_path)
    with probes.tls_listener(_permissive_context(cert, key)) as control:
        assert probes.handshake("127.0.0.1", control, max_version=TLS11, ciphers=None)
    with probes.tls_listener(server_ssl_context(cert, key)) as port:
        assert not probes.handshake("127.0.0.1", port, max_version=TLS11, ciphers=None)
        assert probes.handshake("127.0.0.1", port, max_version=TLS12, ciphers=None)


def test_non_forward_secret_suites_are_refused(tmp_path: Path) -> None:
    # An RSA certificate so that RSA key exchange would be possible if the policy allowed it.
    cert, key = _rsa_cert(tmp_path)
    with probes.tls_listener(_permissive_context(cert, key)) as control:
        assert probes.handshake("127.0.0.1", control, max_version=TLS12, ciphers=NON_FS_SUITE)
    with probes.tls_listener(server_ssl_context(cert, key)) as port:
        assert not probes.handshake("127.0.0.1", port, max_version=TLS12, ciphers=NON_FS_SUITE)
        assert probes.handshake(
            "127.0.0.1", port, max_version=TLS12, ciphers="ECDHE-RSA-AES128-GCM-SHA256"
        )


def test_non_forward_secret_cbc_suite_is_refused_on_the_ec_cert(
    server_pair: tuple[Path, Path],
) -> None:
    cert, key = server_pair
    cbc = "ECDHE-ECDSA-AES128-SHA"
    with probes.tls_listener(_permissive_context(cert, key)) as control:
        assert probes.handshake("127.0.0.1", control, max_version=TLS12, ciphers=cbc)
    with probes.tls_listener(server_ssl_context(cert, key)) as port:
        assert not probes.handshake("127.0.0.1", port, max_version=TLS12, ciphers=cbc)


def test_client_refuses_a_server_from_another_ca(tmp_path: Path) -> None:
    ours = ensure_ca(tmp_path / "ours")
    theirs = ensure_server_cert(tmp_path / "theirs", "edge")
    client = client_ssl_context(ours)
    with probes.tls_listener(server_ssl_context(*theirs)) as port:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            client.wrap_socket(raw, server_hostname="127.0.0.1")
        # Control: the same client trusting the right CA connects.
        good = client_ssl_context(tmp_path / "theirs" / "ca.pem")
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            good.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            pass


def test_client_refuses_a_host_name_the_cert_does_not_name(
    tls_dir: Path, server_pair: tuple[Path, Path]
) -> None:
    client = client_ssl_context(tls_dir / "ca.pem")
    with (
        probes.tls_listener(server_ssl_context(*server_pair)) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.wrap_socket(raw, server_hostname="evil.example")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_client_context_requires_tls12(tmp_path: Path) -> None:
    cert, key = _rsa_cert(tmp_path)
    permissive = _permissive_context(cert, key)
    permissive.maximum_version = TLS11
    client = client_ssl_context(ensure_ca(tmp_path / "tls"))
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with probes.tls_listener(permissive) as port:
        assert probes.handshake("127.0.0.1", port, max_version=TLS11, ciphers=None)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            pytest.raises(ssl.SSLError),
        ):
            client.wrap_socket(raw, server_hostname="127.0.0.1")
