"""Service key files, key identifiers, and the directory and HTTPS key repositories."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import tls_probes as probes
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.keyrepo_http import HttpKeyRepository
from tenantry.platform.service_keys import (
    KeyFileError,
    KidError,
    UnknownKeyError,
    ensure_service_key,
    load_service_key,
    parse_kid,
    public_pem,
)
from tenantry.platform.tls import ensure_server_cert, server_ssl_context


@pytest.mark.parametrize(
    ("kid", "expected"),
    [
        ("edge/k1", ("edge", "k1")),
        ("issues-eu/2024.rotation_1", ("issues-eu", "2024.rotation_1")),
        ("a/B", ("a", "B")),
    ],
)
def test_parse_kid_accepts_issuer_and_keyname(kid: str, expected: tuple[str, str]) -> None:
    assert parse_kid(kid) == expected


@pytest.mark.parametrize(
    "kid",
    [
        "",
        "edge",
        "edge/",
        "/edge/k1",
        "edge/k1/extra",
        "edge/../k1",
        "../edge/k1",
        "edge/..",
        "edge/k1..pem",
        "edge\\k1",
        "edge/k1\\x",
        "edge/%2e%2e",
        "edge%2Fk1",
        "Edge/k1",
        "1edge/k1",
        "edge/.hidden",
        "edge/-k1",
        "edge/k 1",
        "edge/k1\n",
        "edge/k\u00e91",
        "e" * 64 + "/k1",
        "edge/" + "k" * 129,
    ],
)
def test_parse_kid_refuses_anything_else(kid: str) -> None:
    with pytest.raises(KidError):
        parse_kid(kid)


def test_parse_kid_limits_are_inclusive() -> None:
    assert parse_kid("e" * 63 + "/" + "k" * 128) == ("e" * 63, "k" * 128)


def test_ensure_service_key_writes_private_0600_in_0700_dir_and_public_0644(
    tmp_path: Path,
) -> None:
    key = ensure_service_key(tmp_path, "edge")
    assert key.issuer == "edge"
    assert key.kid == "edge/k1"
    assert isinstance(key.private_key.curve, ec.SECP256R1)
    private = tmp_path / "keys" / "private" / "edge" / "k1.pem"
    public = tmp_path / "keys" / "public" / "edge" / "k1.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert public.read_bytes() == public_pem(key)


def test_ensure_service_key_loads_the_same_key_later(tmp_path: Path) -> None:
    first = ensure_service_key(tmp_path, "edge")
    again = ensure_service_key(tmp_path, "edge")
    assert public_pem(again) == public_pem(first)
    assert again.kid == first.kid


def test_ensure_service_key_rewrites_a_missing_public_key(tmp_path: Path) -> None:
    key = ensure_service_key(tmp_path, "edge")
    public = tmp_path / "keys" / "public" / "edge" / "k1.pem"
    public.unlink()
    ensure_service_key(tmp_path, "edge")
    assert public.read_bytes() == public_pem(key)


@pytest.mark.parametrize(("service", "keyname"), [("../x", "k1"), ("edge", "../k1"), ("E", "k")])
def test_ensure_service_key_refuses_unsafe_names(
    tmp_path: Path, service: str, keyname: str
) -> None:
    with pytest.raises(KidError):
        ensure_service_key(tmp_path, service, keyname)
    assert not any((tmp_path / "keys").rglob("*.pem"))


def test_load_service_key_picks_the_newest(tmp_path: Path) -> None:
    ensure_service_key(tmp_path, "edge", "k1")
    old = tmp_path / "keys" / "private" / "edge" / "k1.pem"
    os.utime(old, (time.time() - 100, time.time() - 100))
    newer = ensure_service_key(tmp_path, "edge", "k2")
    loaded = load_service_key(tmp_path, "edge")
    assert loaded.kid == "edge/k2"
    assert public_pem(loaded) == public_pem(newer)


def test_load_service_key_without_keys_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no private key for service 'edge'"):
        load_service_key(tmp_path, "edge")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_private_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    ensure_service_key(tmp_path, "edge")
    private = tmp_path / "keys" / "private" / "edge" / "k1.pem"
    os.chmod(private, mode)
    with pytest.raises(KeyFileError, match="group or others"):
        load_service_key(tmp_path, "edge")
    with pytest.raises(KeyFileError, match="group or others"):
        ensure_service_key(tmp_path, "edge")
    os.chmod(private, 0o600)
    assert load_service_key(tmp_path, "edge").kid == "edge/k1"


def test_private_key_symlink_is_refused(tmp_path: Path) -> None:
    ensure_service_key(tmp_path, "edge")
    private = tmp_path / "keys" / "private" / "edge" / "k1.pem"
    moved = tmp_path / "elsewhere.pem"
    private.rename(moved)
    private.symlink_to(moved)
    with pytest.raises(KeyFileError):
        load_service_key(tmp_path, "edge")


# -- DirectoryKeyRepository ------------------------------------------------------------------


@pytest.fixture
def keyed(tmp_path: Path) -> Path:
    ensure_service_key(tmp_path, "edge")
    return tmp_path / "keys" / "public"


def test_directory_repository_returns_the_public_key(tmp_path: Path, keyed: Path) -> None:
    key = ensure_service_key(tmp_path, "edge")
    repo = DirectoryKeyRepository(keyed)
    found = repo.public_key("edge/k1")
    assert found.public_numbers() == key.private_key.public_key().public_numbers()
    assert repo.public_key("edge/k1") is found  # cached object, no second load


def test_directory_repository_unknown_kid(keyed: Path) -> None:
    repo = DirectoryKeyRepository(keyed)
    with pytest.raises(UnknownKeyError):
        repo.public_key("edge/k2")
    with pytest.raises(UnknownKeyError):
        repo.public_key("tcs/k1")


@pytest.mark.parametrize("kid", ["edge/../../private/edge/k1", "../private/edge/k1", "/etc/x"])
def test_directory_repository_refuses_traversal(keyed: Path, kid: str) -> None:
    with pytest.raises(KidError):
        DirectoryKeyRepository(keyed).public_key(kid)


def test_directory_repository_refuses_symlink_escaping_root(tmp_path: Path, keyed: Path) -> None:
    outside = tmp_path / "outside.pem"
    outside.write_bytes((keyed / "edge" / "k1.pem").read_bytes())
    (keyed / "edge" / "k9.pem").symlink_to(outside)
    # Control: the same file placed inside the root is accepted.
    (keyed / "edge" / "k8.pem").write_bytes(outside.read_bytes())
    repo = DirectoryKeyRepository(keyed)
    repo.public_key("edge/k8")
    with pytest.raises(UnknownKeyError):
        repo.public_key("edge/k9")


def test_directory_repository_refuses_non_p256_keys(keyed: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    (keyed / "edge" / "rsa.pem").write_bytes(rsa_key.public_bytes(serialization.Encoding.PEM, fmt))
    (keyed / "edge" / "p384.pem").write_bytes(p384.public_bytes(serialization.Encoding.PEM, fmt))
    (keyed / "edge" / "junk.pem").write_bytes(b"not a key")
    repo = DirectoryKeyRepository(keyed)
    for kid in ("edge/rsa", "edge/p384", "edge/junk"):
        with pytest.raises(UnknownKeyError):
            repo.public_key(kid)


def test_directory_repository_forgets_removed_keys_after_cache_time(keyed: Path) -> None:
    repo = DirectoryKeyRepository(keyed, cache_seconds=0)
    repo.public_key("edge/k1")
    (keyed / "edge" / "k1.pem").unlink()
    with pytest.raises(UnknownKeyError):
        repo.public_key("edge/k1")


# -- HttpKeyRepository -----------------------------------------------------------------------


@pytest.fixture
def key_server(tmp_path: Path, keyed: Path) -> Iterator[tuple[str, list[str], Path]]:
    tls_dir = tmp_path / "tls"
    cert, key = ensure_server_cert(tls_dir, "keys")
    with probes.serve_key_directory(keyed, server_ssl_context(cert, key)) as (url, requested):
        yield url, requested, tls_dir / "ca.pem"


def test_http_repository_fetches_once_and_caches(
    tmp_path: Path, key_server: tuple[str, list[str], Path]
) -> None:
    url, requested, ca = key_server
    key = ensure_service_key(tmp_path, "edge")
    repo = HttpKeyRepository(url, ca)
    try:
        for _ in range(3):
            found = repo.public_key("edge/k1")
            assert found.public_numbers() == key.private_key.public_key().public_numbers()
    finally:
        repo.close()
    assert requested == ["/edge/k1"]


def test_http_repository_unknown_kid_is_remembered_briefly(
    key_server: tuple[str, list[str], Path],
) -> None:
    url, requested, ca = key_server
    repo = HttpKeyRepository(url, ca)
    try:
        for _ in range(3):
            with pytest.raises(UnknownKeyError):
                repo.public_key("edge/k2")
    finally:
        repo.close()
    assert requested == ["/edge/k2"]


def test_http_repository_checks_kid_before_any_request(
    key_server: tuple[str, list[str], Path],
) -> None:
    url, requested, ca = key_server
    repo = HttpKeyRepository(url, ca)
    try:
        for kid in ("edge/../../etc/passwd", "edge/k1?x=1", "edge/%2e%2e", "edge#k1"):
            with pytest.raises(KidError):
                repo.public_key(kid)
    finally:
        repo.close()
    assert requested == []


def test_http_repository_refuses_a_server_outside_our_ca(tmp_path: Path, keyed: Path) -> None:
    foreign_cert, foreign_key = ensure_server_cert(tmp_path / "foreign", "keys")
    ours = ensure_server_cert(tmp_path / "ours", "keys")
    context = server_ssl_context(foreign_cert, foreign_key)
    with probes.serve_key_directory(keyed, context) as (url, _):
        repo = HttpKeyRepository(url, ours[0].parent / "ca.pem")
        try:
            with pytest.raises(UnknownKeyError, match="unreachable"):
                repo.public_key("edge/k1")
        finally:
            repo.close()
        # Control: trusting the CA that issued the server's certificate works.
        good = HttpKeyRepository(url, tmp_path / "foreign" / "ca.pem")
        try:
            good.public_key("edge/k1")
        finally:
            good.close()


def test_http_repository_requires_https(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="https"):
        HttpKeyRepository("http://127.0.0.1:1/", None)


def test_http_repository_keeps_a_known_key_while_the_server_is_down(
    tmp_path: Path, keyed: Path
) -> None:
    cert, key = ensure_server_cert(tmp_path / "tls", "keys")
    with probes.serve_key_directory(keyed, server_ssl_context(cert, key)) as (url, _):
        repo = HttpKeyRepository(url, tmp_path / "tls" / "ca.pem", cache_seconds=0, timeout=0.5)
        known = repo.public_key("edge/k1")
    try:
        assert repo.public_key("edge/k1") is known
        with pytest.raises(UnknownKeyError):
            repo.public_key("edge/k2")
    finally:
        repo.close()


def test_http_repository_drops_a_key_the_server_no_longer_has(
    tmp_path: Path, keyed: Path, key_server: tuple[str, list[str], Path]
) -> None:
    url, requested, ca = key_server
    repo = HttpKeyRepository(url, ca, cache_seconds=0)
    try:
        repo.public_key("edge/k1")
        (keyed / "edge" / "k1.pem").unlink()
        with pytest.raises(UnknownKeyError):
            repo.public_key("edge/k1")
    finally:
        repo.close()
    assert requested == ["/edge/k1", "/edge/k1"]
