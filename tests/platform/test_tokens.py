"""Signing and verifying service tokens: claims, reuse, check order and error shape."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from settable_clock import SettableClock
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.replay import ReplayStoreUnavailable
from tenantry.platform.replay_sqlite import SqliteReplayCache
from tenantry.platform.service_keys import ServiceKey, ensure_service_key
from tenantry.platform.tokens import TokenError, TokenSigner, TokenVerifier


@pytest.fixture
def edge_key(tmp_path: Path) -> ServiceKey:
    return ensure_service_key(tmp_path, "edge")


@pytest.fixture
def repo(tmp_path: Path, edge_key: ServiceKey) -> DirectoryKeyRepository:
    return DirectoryKeyRepository(tmp_path / "keys" / "public")


@pytest.fixture
def verifier(tmp_path: Path, repo: DirectoryKeyRepository) -> TokenVerifier:
    return TokenVerifier(
        audience="issues", keys=repo, replay=SqliteReplayCache(tmp_path / "replay.db")
    )


def _sign_raw(key: ServiceKey, claims: dict[str, Any], **headers: Any) -> str:
    """Sign arbitrary claims with a real service key, bypassing TokenSigner's own rules."""
    return jwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, **headers}
    )


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "edge",
        "sub": "edge",
        "aud": "issues",
        "jti": f"jti-{time.monotonic_ns()}",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _once(verifier: TokenVerifier, token: str) -> dict[str, Any]:
    """Verify as a service does: once, recording the token's jti."""
    return asyncio.run(verifier.verify_once(token))


def _code(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        _once(verifier, token)
    assert caught.value.status == 401
    return caught.value.code


# -- TokenSigner -----------------------------------------------------------------------------


def test_signed_token_has_the_asap_header_and_claims(edge_key: ServiceKey) -> None:
    clock = SettableClock(1_700_000_000.0)
    token = TokenSigner(edge_key, lifetime=120, clock=clock).sign("issues", {"tenant": "t1"})
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": "edge/k1", "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(clock.now)
    assert claims["iss"] == claims["sub"] == "edge"
    assert claims["aud"] == "issues"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now, now + 120)
    assert claims["tenant"] == "t1"
    assert len(claims["jti"]) >= 22  # at least 128 random bits, base64url


def test_every_token_gets_a_fresh_jti_without_reuse(edge_key: ServiceKey) -> None:
    signer = TokenSigner(edge_key)
    tokens = {signer.sign("issues") for _ in range(50)}
    jtis = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens}
    assert len(tokens) == len(jtis) == 50


@pytest.mark.parametrize("lifetime", [0, -1, 3601, 86400])
def test_lifetime_outside_one_hour_is_refused(edge_key: ServiceKey, lifetime: int) -> None:
    with pytest.raises(ValueError):
        TokenSigner(edge_key, lifetime=lifetime)


def test_lifetime_of_exactly_one_hour_is_allowed(
    edge_key: ServiceKey, verifier: TokenVerifier
) -> None:
    token = TokenSigner(edge_key, lifetime=3600).sign("issues")
    assert _once(verifier, token)["iss"] == "edge"


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "jti", "iat", "nbf", "exp"])
def test_extra_claims_cannot_override_standard_ones(edge_key: ServiceKey, claim: str) -> None:
    with pytest.raises(ValueError, match="may not override"):
        TokenSigner(edge_key).sign("issues", {claim: "x"})


def test_reuse_returns_the_same_token_until_ninety_percent_of_lifetime(
    edge_key: ServiceKey,
) -> None:
    clock = SettableClock(1_700_000_000.0)
    signer = TokenSigner(edge_key, lifetime=100, reuse=True, clock=clock)
    first = signer.sign("issues", {"tenant": "t1"})
    clock.now += 89
    assert signer.sign("issues", {"tenant": "t1"}) == first
    assert signer.sign("pages", {"tenant": "t1"}) != first
    assert signer.sign("issues", {"tenant": "t2"}) != first
    clock.now += 2
    assert signer.sign("issues", {"tenant": "t1"}) != first


# -- TokenVerifier ---------------------------------------------------------------------------


def test_valid_token_returns_its_claims(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    token = TokenSigner(edge_key).sign("issues", {"tenant": "t1"})
    claims = _once(verifier, token)
    assert claims["iss"] == "edge"
    assert claims["tenant"] == "t1"


def test_audience_may_be_a_list(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    assert _once(verifier, _sign_raw(edge_key, _claims(aud=["pages", "issues"])))
    assert _code(verifier, _sign_raw(edge_key, _claims(aud=["pages"]))) == "token_wrong_audience"
    assert _code(verifier, _sign_raw(edge_key, _claims(aud=[]))) == "token_wrong_audience"


def test_leeway_accepts_small_clock_skew(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    _once(verifier, _sign_raw(edge_key, _claims(iat=now - 80, nbf=now - 80, exp=now - 20)))
    _once(verifier, _sign_raw(edge_key, _claims(iat=now + 20, nbf=now + 20, exp=now + 80)))
    late = _sign_raw(edge_key, _claims(iat=now - 100, nbf=now - 100, exp=now - 40))
    assert _code(verifier, late) == "token_expired"
    early = _sign_raw(edge_key, _claims(iat=now, nbf=now + 40, exp=now + 90))
    assert _code(verifier, early) == "token_not_yet_valid"


def test_issued_in_the_future_is_not_yet_valid(
    edge_key: ServiceKey, verifier: TokenVerifier
) -> None:
    # Without this, a far-future iat would stretch a token past the one-hour cap.
    now = int(time.time())
    token = _sign_raw(edge_key, _claims(iat=now + 3000, nbf=None, exp=now + 3600))
    assert _code(verifier, token) == "token_not_yet_valid"


def test_without_a_replay_cache_a_token_may_be_reused(
    edge_key: ServiceKey, repo: DirectoryKeyRepository
) -> None:
    verifier = TokenVerifier(audience="issues", keys=repo, replay=None)
    token = TokenSigner(edge_key).sign("issues")
    verifier.verify(token)
    verifier.verify(token)


def test_trusted_issuers_limit_who_may_call(
    tmp_path: Path, edge_key: ServiceKey, repo: DirectoryKeyRepository
) -> None:
    tcs_key = ensure_service_key(tmp_path, "tcs")
    verifier = TokenVerifier(audience="issues", keys=repo, replay=None, trusted_issuers={"edge"})
    verifier.verify(TokenSigner(edge_key).sign("issues"))
    assert _code(verifier, TokenSigner(tcs_key).sign("issues")) == "token_issuer_mismatch"


def test_subject_must_be_the_issuer(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    assert _code(verifier, _sign_raw(edge_key, _claims(sub="admin"))) == "token_issuer_mismatch"


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "jti", "iat", "exp"])
def test_each_required_claim_must_be_present(
    edge_key: ServiceKey, verifier: TokenVerifier, claim: str
) -> None:
    token = _sign_raw(edge_key, _claims(**{claim: None}))
    assert _code(verifier, token) == "token_missing_claim"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"exp": float("nan")},
        {"exp": float("inf")},
        {"iat": [1]},
        {"nbf": "now"},
        {"jti": 12345},
        {"jti": ""},
        {"jti": "j" * 300},
    ],
)
def test_mistyped_claims_are_malformed(
    edge_key: ServiceKey, verifier: TokenVerifier, overrides: dict[str, Any]
) -> None:
    assert _code(verifier, _sign_raw(edge_key, _claims(**overrides))) == "token_malformed"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "a.b", "....", "e30.e30.", "x" * 9000],
)
def test_garbage_is_malformed(verifier: TokenVerifier, token: str) -> None:
    assert _code(verifier, token) == "token_malformed"


def test_header_without_kid_is_malformed(edge_key: ServiceKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(_claims(), edge_key.private_key, algorithm="ES256")
    assert _code(verifier, token) == "token_malformed"


def test_critical_header_extensions_are_refused(
    edge_key: ServiceKey, verifier: TokenVerifier
) -> None:
    token = _sign_raw(edge_key, _claims(), crit=["exp"])
    assert _code(verifier, token) == "token_malformed"


def test_first_failing_check_decides_the_code(
    tmp_path: Path, edge_key: ServiceKey, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    wrong_aud_and_expired = _sign_raw(edge_key, _claims(aud="pages", exp=now - 100, iat=now - 160))
    assert _code(verifier, wrong_aud_and_expired) == "token_wrong_audience"
    expired_and_too_long = _sign_raw(edge_key, _claims(iat=now - 9000, exp=now - 100))
    assert _code(verifier, expired_and_too_long) == "token_expired"
    # Issuer/key mismatch is reported before the signature is even checked.
    tcs_key = ensure_service_key(tmp_path, "tcs")
    forged = jwt.encode(
        _claims(iss="tcs"), tcs_key.private_key, algorithm="ES256", headers={"kid": "edge/k1"}
    )
    assert _code(verifier, forged) == "token_issuer_mismatch"


def test_refused_tokens_do_not_consume_their_jti(
    tmp_path: Path, edge_key: ServiceKey, repo: DirectoryKeyRepository
) -> None:
    replay = SqliteReplayCache(tmp_path / "shared.db")
    pages = TokenVerifier(audience="pages", keys=repo, replay=replay)
    issues = TokenVerifier(audience="issues", keys=repo, replay=replay)
    token = TokenSigner(edge_key).sign("issues")
    assert _code(pages, token) == "token_wrong_audience"
    _once(issues, token)
    assert _code(issues, token) == "token_replayed"


def test_token_error_becomes_the_api_error_shape() -> None:
    error = TokenError("token_expired", "the token has expired")
    api = error.api_error()
    assert (api.status, api.code) == (401, "token_expired")
    assert api.body() == {"error": "token_expired", "message": "the token has expired"}


def test_a_single_use_verifier_cannot_be_asked_to_skip_the_replay_check(
    edge_key: ServiceKey, verifier: TokenVerifier
) -> None:
    token = TokenSigner(edge_key).sign("issues")
    with pytest.raises(TypeError):
        verifier.verify(token)
    _once(verifier, token)  # the token was not consumed by the refused call


def test_a_replay_store_that_cannot_answer_refuses_the_token(
    edge_key: ServiceKey, repo: DirectoryKeyRepository
) -> None:
    class DownStore:
        async def first_use(self, key: str, expires_at: float) -> bool:
            raise ReplayStoreUnavailable("redis: connection refused")

    verifier = TokenVerifier(audience="issues", keys=repo, replay=DownStore())
    with pytest.raises(TokenError) as caught:
        _once(verifier, TokenSigner(edge_key).sign("issues"))
    assert (caught.value.status, caught.value.code) == (503, "replay_store_unavailable")
