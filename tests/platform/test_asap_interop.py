"""ASAP interoperability with the reference library, and every way a service token is refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import atlassian_jwt_auth
import jwt
import pytest
import redis
from atlassian_jwt_auth.key import BasePublicKeyRetriever, HTTPSPublicKeyRetriever, KeyIdentifier
from cryptography.hazmat.primitives.asymmetric import ec

import tls_probes as probes
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.keyrepo_http import HttpKeyRepository
from tenantry.platform.replay_redis import RedisReplayCache
from tenantry.platform.replay_sqlite import SqliteReplayCache
from tenantry.platform.service_keys import ServiceKey, ensure_service_key
from tenantry.platform.tls import ensure_server_cert, server_ssl_context
from tenantry.platform.tokens import TokenError, TokenSigner, TokenVerifier

REDIS_URL = "redis://127.0.0.1:6379/0"


class DirectoryRetriever(BasePublicKeyRetriever):
    """The reference verifier's view of tenantry's public key directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def retrieve(self, key_identifier: KeyIdentifier | str, **_: Any) -> str:
        if not isinstance(key_identifier, KeyIdentifier):
            key_identifier = KeyIdentifier(key_identifier)
        return (self.root / f"{key_identifier.key_id}.pem").read_text()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def edge_key(data_dir: Path) -> ServiceKey:
    return ensure_service_key(data_dir, "edge")


@pytest.fixture
def public_root(data_dir: Path, edge_key: ServiceKey) -> Path:
    return data_dir / "keys" / "public"


@pytest.fixture
def replay_path(tmp_path: Path) -> Path:
    return tmp_path / "replay.db"


@pytest.fixture
def verifier(public_root: Path, replay_path: Path) -> TokenVerifier:
    return TokenVerifier(
        audience="issues",
        keys=DirectoryKeyRepository(public_root),
        replay=SqliteReplayCache(replay_path),
    )


def _private_pem(data_dir: Path, service: str, keyname: str = "k1") -> bytes:
    return (data_dir / "keys" / "private" / service / f"{keyname}.pem").read_bytes()


def _reference_token(data_dir: Path, audience: str = "issues", **kwargs: Any) -> str:
    signer = atlassian_jwt_auth.create_signer(
        "edge", "edge/k1", _private_pem(data_dir, "edge"), algorithm="ES256", **kwargs
    )
    return signer.generate_jwt(audience).decode()


def _once(verifier: TokenVerifier, token: str) -> dict[str, Any]:
    """Verify as a service does: once, recording the token's jti."""
    return asyncio.run(verifier.verify_once(token))


def _code(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        _once(verifier, token)
    assert caught.value.status == 401
    return caught.value.code


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "edge",
        "sub": "edge",
        "aud": "issues",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return claims


def _forge(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any], kid: str) -> str:
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- interoperability ------------------------------------------------------------------------


def test_reference_signed_token_verifies_here(data_dir: Path, verifier: TokenVerifier) -> None:
    claims = _once(verifier, _reference_token(data_dir))
    assert claims["iss"] == "edge"
    assert claims["aud"] == "issues"


def test_reference_signed_token_for_another_audience_is_refused(
    data_dir: Path, verifier: TokenVerifier
) -> None:
    assert _code(verifier, _reference_token(data_dir, "pages")) == "token_wrong_audience"


def test_reference_reusing_signer_tokens_are_single_use_here(
    data_dir: Path, verifier: TokenVerifier
) -> None:
    signer = atlassian_jwt_auth.create_signer(
        "edge", "edge/k1", _private_pem(data_dir, "edge"), algorithm="ES256", reuse_jwts=True
    )
    first, second = signer.generate_jwt("issues"), signer.generate_jwt("issues")
    assert first == second
    _once(verifier, first.decode())
    assert _code(verifier, second.decode()) == "token_replayed"


def test_our_token_verifies_with_the_reference_verifier(
    edge_key: ServiceKey, public_root: Path
) -> None:
    reference = atlassian_jwt_auth.JWTAuthVerifier(DirectoryRetriever(public_root))
    token = TokenSigner(edge_key).sign("issues", {"tenant": "t1"})
    claims = reference.verify_jwt(token, "issues")
    assert claims["iss"] == "edge"
    assert claims["tenant"] == "t1"
    with pytest.raises(jwt.InvalidAudienceError):
        reference.verify_jwt(TokenSigner(edge_key).sign("pages"), "issues")


def test_our_token_verifies_with_the_reference_https_retriever(
    tmp_path: Path, edge_key: ServiceKey, public_root: Path
) -> None:
    cert, key = ensure_server_cert(tmp_path / "tls", "keys")
    ca = tmp_path / "tls" / "ca.pem"
    with probes.serve_key_directory(public_root, server_ssl_context(cert, key)) as (url, _):
        reference = atlassian_jwt_auth.JWTAuthVerifier(HTTPSPublicKeyRetriever(url))
        token = TokenSigner(edge_key).sign("issues")
        assert reference.verify_jwt(token, "issues", verify=str(ca))["iss"] == "edge"
        # The same key server serves our HTTP key repository.
        ours = TokenVerifier(audience="issues", keys=HttpKeyRepository(url, ca), replay=None)
        assert ours.verify(_reference_token(tmp_path / "data"))["iss"] == "edge"


# -- every refusal, with its reason code -----------------------------------------------------


def test_no_token(verifier: TokenVerifier) -> None:
    assert _code(verifier, "") == "token_malformed"


def test_bad_signature(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    impostor = ec.generate_private_key(ec.SECP256R1())
    assert _code(verifier, _forge(impostor, _claims(), "edge/k1")) == "token_bad_signature"
    # A genuine token with one payload byte changed is refused the same way.
    header, payload, signature = TokenSigner(edge_key).sign("issues").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["aud"] = "issues"
    claims["tenant"] = "someone-else"
    tampered = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert _code(verifier, tampered) == "token_bad_signature"
    # An empty or truncated signature too.
    assert _code(verifier, f"{header}.{payload}.") == "token_bad_signature"
    assert _code(verifier, f"{header}.{payload}.{signature[:20]}") == "token_bad_signature"


def test_wrong_audience(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    token = TokenSigner(edge_key).sign("pages")
    assert _code(verifier, token) == "token_wrong_audience"


def test_expired(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = _forge(
        edge_key.private_key, _claims(iat=now - 200, nbf=now - 200, exp=now - 100), "edge/k1"
    )
    assert _code(verifier, token) == "token_expired"


def test_not_yet_valid(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = _forge(edge_key.private_key, _claims(nbf=now + 300, exp=now + 600), "edge/k1")
    assert _code(verifier, token) == "token_not_yet_valid"


def test_lifetime_over_one_hour(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = _forge(edge_key.private_key, _claims(exp=now + 3601), "edge/k1")
    assert _code(verifier, token) == "token_lifetime_too_long"
    # Control: exactly one hour is accepted.
    _once(verifier, _forge(edge_key.private_key, _claims(exp=now + 3600), "edge/k1"))


def test_replayed_jti(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    token = TokenSigner(edge_key).sign("issues")
    _once(verifier, token)
    assert _code(verifier, token) == "token_replayed"
    # Same jti in a freshly signed token is still a replay.
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert _code(verifier, _forge(edge_key.private_key, _claims(jti=jti), "edge/k1")) == (
        "token_replayed"
    )


# Runs in a second interpreter: verifies one token against the shared key directory and replay
# cache, and prints "ok" or the reason code.
_VERIFY_ELSEWHERE = """
import asyncio, sys
from pathlib import Path
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.tokens import TokenError, TokenVerifier
public_root, kind, target, prefix, token = sys.argv[1:6]
if kind == "sqlite":
    from tenantry.platform.replay_sqlite import SqliteReplayCache
    replay = SqliteReplayCache(Path(target))
else:
    from tenantry.platform.replay_redis import RedisReplayCache
    replay = RedisReplayCache(target, prefix=prefix)
keys = DirectoryKeyRepository(Path(public_root))
verifier = TokenVerifier(audience="issues", keys=keys, replay=replay)
try:
    asyncio.run(verifier.verify_once(token))
    print("ok")
except TokenError as exc:
    print(exc.code)
"""


@pytest.fixture(params=["sqlite", "redis"])
def shared_replay(
    request: pytest.FixtureRequest, replay_path: Path
) -> Iterator[tuple[str, str, str]]:
    if request.param == "sqlite":
        yield "sqlite", str(replay_path), ""
        return
    prefix = f"test:asap:{uuid.uuid4().hex}:"
    yield "redis", REDIS_URL, prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def _verify_in_another_process(public_root: Path, shared: tuple[str, str, str], token: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _VERIFY_ELSEWHERE, str(public_root), *shared, token],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


async def test_replayed_jti_from_a_second_process(
    edge_key: ServiceKey, public_root: Path, shared_replay: tuple[str, str, str]
) -> None:
    kind, target, prefix = shared_replay
    replay = (
        SqliteReplayCache(Path(target))
        if kind == "sqlite"
        else RedisReplayCache(target, prefix=prefix)
    )
    here = TokenVerifier(audience="issues", keys=DirectoryKeyRepository(public_root), replay=replay)
    used_here = TokenSigner(edge_key).sign("issues")
    await here.verify_once(used_here)
    assert _verify_in_another_process(public_root, shared_replay, used_here) == "token_replayed"
    # Control and reverse direction: a fresh token passes there, and is then refused here.
    used_there = TokenSigner(edge_key).sign("issues")
    assert _verify_in_another_process(public_root, shared_replay, used_there) == "ok"
    with pytest.raises(TokenError) as caught:
        await here.verify_once(used_there)
    assert caught.value.code == "token_replayed"


def test_unknown_kid(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    token = _forge(edge_key.private_key, _claims(), "edge/k2")
    assert _code(verifier, token) == "token_unknown_kid"
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert _code(verifier, _forge(stranger, _claims(iss="ghost", sub="ghost"), "ghost/k1")) == (
        "token_unknown_kid"
    )


@pytest.mark.parametrize(
    "kid",
    [
        "edge/../edge/k1",
        "edge/..",
        "../keys/public/edge/k1",
        "edge/../../private/edge/k1",
        "/edge/k1",
        "edge\\k1",
        "edge/%2e%2e%2fk1",
        "edge",
        "edge/k1/x",
    ],
)
def test_bad_kid(edge_key: ServiceKey, verifier: TokenVerifier, kid: str) -> None:
    assert _code(verifier, _forge(edge_key.private_key, _claims(), kid)) == "token_bad_kid"


def test_kid_of_another_issuer(
    data_dir: Path, edge_key: ServiceKey, verifier: TokenVerifier
) -> None:
    tcs_key = ensure_service_key(data_dir, "tcs")
    # tcs signs with its own (valid, known) key but claims to be edge.
    token = _forge(tcs_key.private_key, _claims(iss="edge", sub="edge"), "tcs/k1")
    assert _code(verifier, token) == "token_issuer_mismatch"
    # And edge's kid with a tcs issuer.
    token = _forge(edge_key.private_key, _claims(iss="tcs", sub="tcs"), "edge/k1")
    assert _code(verifier, token) == "token_issuer_mismatch"
    # Control: tcs speaking as itself is accepted.
    _once(verifier, _forge(tcs_key.private_key, _claims(iss="tcs", sub="tcs"), "tcs/k1"))


def test_missing_claim(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    claims = _claims()
    del claims["jti"]
    assert _code(verifier, _forge(edge_key.private_key, claims, "edge/k1")) == (
        "token_missing_claim"
    )


def test_alg_none(verifier: TokenVerifier) -> None:
    token = jwt.encode(_claims(), None, algorithm="none", headers={"kid": "edge/k1"})
    assert _code(verifier, token) == "token_bad_algorithm"
    header = _b64(json.dumps({"alg": "none", "kid": "edge/k1"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    assert _code(verifier, f"{header}.{payload}.") == "token_bad_algorithm"


def test_hs256_with_the_public_key_as_hmac_secret(
    public_root: Path, verifier: TokenVerifier
) -> None:
    secret = (public_root / "edge" / "k1.pem").read_bytes()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "edge/k1"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64(signature)}"
    # Control: the forgery is a valid HMAC over the token under the public key.
    expected = hmac.new(secret, signing_input, hashlib.sha256).digest()
    assert hmac.compare_digest(base64.urlsafe_b64decode(token.split(".")[2] + "="), expected)
    assert _code(verifier, token) == "token_bad_algorithm"


@pytest.mark.parametrize("alg", ["ES384", "RS256", "PS256", "HS512", "EdDSA", "es256"])
def test_other_algorithms(edge_key: ServiceKey, verifier: TokenVerifier, alg: str) -> None:
    good = TokenSigner(edge_key).sign("issues")
    _, payload, signature = good.split(".")
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "edge/k1"}).encode())
    assert _code(verifier, f"{header}.{payload}.{signature}") == "token_bad_algorithm"
