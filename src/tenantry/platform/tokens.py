"""Service-to-service tokens (ASAP-style JWTs): how a service proves who is calling.

Every inter-service request carries a short-lived ES256 JWT signed with the caller's service key.
The receiver checks it against the caller's public key and refuses it with a precise reason code
(and status 401) when anything is off. The format interoperates with the reference ASAP library.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm

from tenantry.platform.errors import ApiError
from tenantry.platform.replay import ReplayCache, ReplayStoreUnavailable
from tenantry.platform.service_keys import (
    KeyRepository,
    KidError,
    ServiceKey,
    UnknownKeyError,
    parse_kid,
)

ALGORITHM = "ES256"
MAX_LIFETIME = 3600
# Larger than any token we sign with sensible extra claims; bounds the work an attacker can cause.
MAX_TOKEN_BYTES = 8192
MAX_JTI_CHARS = 256
REQUIRED_CLAIMS = ("iss", "sub", "aud", "jti", "iat", "exp")
_RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "jti", "iat", "nbf", "exp"})
# A reused token is handed out until this share of its lifetime has passed.
REUSE_FRACTION = 0.9
_REUSE_CACHE_ENTRIES = 256
_UNVERIFIED: Any = {"verify_signature": False}
_ES256 = ECAlgorithm(ECAlgorithm.SHA256)


class TokenError(Exception):
    """Why a service token was refused: a machine `code`, an HTTP `status` and a `message`."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message

    def api_error(self) -> ApiError:
        """The refusal as the error a client sees."""
        return ApiError(self.status, self.code, self.message)


class TokenSigner:
    """Mint service tokens as one service, for one audience at a time.

    With `reuse=False` (the default, and what the inter-service client uses) every call returns
    a fresh token with a new `jti`, because tenantry services accept each `jti` only once. With
    `reuse=True` a token is handed out again for the same audience and claims until 90% of its
    lifetime has passed, saving a signature per request; only use it towards verifiers that do
    not enforce single use, since anyone who captures a reused token can replay it until expiry.
    """

    def __init__(
        self,
        key: ServiceKey,
        *,
        lifetime: int = 60,
        reuse: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < lifetime <= MAX_LIFETIME:
            raise ValueError(f"token lifetime must be 1..{MAX_LIFETIME} seconds, not {lifetime}")
        self._key = key
        self._lifetime = lifetime
        self._reuse = reuse
        self._clock = clock
        self._headers = {"kid": key.kid, "typ": "JWT"}
        self._reusable: dict[tuple[str, str], tuple[float, str]] = {}

    @property
    def issuer(self) -> str:
        """The identity this signer signs as (the service's name)."""
        return self._key.issuer

    def sign(self, audience: str, claims: Mapping[str, Any] | None = None) -> str:
        """Return a signed token for `audience`, carrying `claims` besides the standard ones."""
        extra = dict(claims or {})
        clash = _RESERVED_CLAIMS.intersection(extra)
        if clash:
            raise ValueError(f"extra claims may not override {sorted(clash)}")
        now = int(self._clock())
        if not self._reuse:
            return self._mint(audience, extra, now)
        cache_key = (audience, json.dumps(extra, sort_keys=True, separators=(",", ":")))
        cached = self._reusable.get(cache_key)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        token = self._mint(audience, extra, now)
        if len(self._reusable) >= _REUSE_CACHE_ENTRIES:
            self._reusable.clear()
        self._reusable[cache_key] = (now + REUSE_FRACTION * self._lifetime, token)
        return token

    def _mint(self, audience: str, extra: dict[str, Any], now: int) -> str:
        payload = {
            **extra,
            "iss": self._key.issuer,
            "sub": self._key.issuer,
            "aud": audience,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "nbf": now,
            "exp": now + self._lifetime,
        }
        return jwt.encode(
            payload, self._key.private_key, algorithm=ALGORITHM, headers=self._headers
        )


class TokenVerifier:
    """Check service tokens addressed to one service and return their claims.

    Checks run in a fixed order and the first failure decides the reason code: token shape and
    `kid`, algorithm (ES256 only), key lookup, issuer owns the key, signature, required claims,
    subject, audience, expiry, not-before, lifetime, trusted issuers, and last the replay cache,
    so only fully valid tokens consume their `jti`.

    With a replay cache, tokens are checked by `verify_once` (a coroutine: the shared cache may
    be across a network); `verify` is for verifiers that accept a token more than once.
    """

    def __init__(
        self,
        *,
        audience: str,
        keys: KeyRepository,
        replay: ReplayCache | None,
        leeway: int = 30,
        max_lifetime: int = MAX_LIFETIME,
        trusted_issuers: Collection[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._audience = audience
        self._keys = keys
        self._replay = replay
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._trusted = frozenset(trusted_issuers) if trusted_issuers is not None else None
        self._clock = clock

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise TokenError saying why it is refused.

        Only for a verifier without a replay cache: one with a cache must not let a token
        through unrecorded, so it raises TypeError here.
        """
        if self._replay is not None:
            raise TypeError("a verifier with a replay cache checks tokens with verify_once")
        return self._verify(token)

    async def verify_once(self, token: str) -> dict[str, Any]:
        """Like `verify`, and then record the token's `jti`, refusing one seen before."""
        claims = self._verify(token)
        if self._replay is None:
            return claims
        key = f"{claims['iss']}/{claims['jti']}"
        try:
            first = await self._replay.first_use(key, claims["exp"] + self._leeway)
        except ReplayStoreUnavailable as exc:
            raise TokenError(
                "replay_store_unavailable",
                "whether this token was used before cannot be checked now",
                status=503,
            ) from exc
        if not first:
            raise TokenError("token_replayed", "the token has already been used")
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
            raise TokenError("token_malformed", "a service token is required")
        try:
            # PyJWT parses (and strictly validates) the token once; the signature is checked
            # below with PyJWT's ES256 implementation, after the checks that need no key.
            parsed = jwt.decode_complete(token, options=_UNVERIFIED)
        except jwt.InvalidTokenError as exc:
            raise TokenError("token_malformed", "the token is not a well-formed JWT") from exc
        header, claims = parsed["header"], parsed["payload"]
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("token_malformed", "the token header names no kid")
        if "crit" in header:
            raise TokenError("token_malformed", "critical header extensions are not supported")
        try:
            kid_issuer, _ = parse_kid(kid)
        except KidError as exc:
            raise TokenError("token_bad_kid", "the token's kid is not <issuer>/<key>") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError("token_bad_algorithm", f"only {ALGORITHM} tokens are accepted")
        try:
            public_key = self._keys.public_key(kid)
        except KidError as exc:
            raise TokenError("token_bad_kid", "the token's kid is not <issuer>/<key>") from exc
        except UnknownKeyError as exc:
            raise TokenError("token_unknown_kid", f"no public key is known for {kid}") from exc

        if "iss" not in claims:
            raise TokenError("token_missing_claim", "the token has no iss claim")
        if claims["iss"] != kid_issuer:
            raise TokenError("token_issuer_mismatch", "the key does not belong to the issuer")
        signing_input = token.rpartition(".")[0].encode()
        if not _ES256.verify(signing_input, public_key, parsed["signature"]):
            raise TokenError("token_bad_signature", "the token signature is invalid")
        return self._check_claims(claims)

    def _check_claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        for name in REQUIRED_CLAIMS:
            if name not in claims:
                raise TokenError("token_missing_claim", f"the token has no {name} claim")
        iss, jti = claims["iss"], claims["jti"]
        iat, exp, nbf = claims["iat"], claims["exp"], claims.get("nbf", claims["iat"])
        if not all(_is_time(value) for value in (iat, exp, nbf)):
            raise TokenError("token_malformed", "iat, nbf and exp must be numeric dates")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
            raise TokenError("token_malformed", "jti must be a non-empty string")
        if claims["sub"] != iss:
            raise TokenError("token_issuer_mismatch", "the token subject is not its issuer")
        if not self._addressed_to_us(claims["aud"]):
            raise TokenError("token_wrong_audience", f"the token is not for {self._audience}")
        now = self._clock()
        if now > exp + self._leeway:
            raise TokenError("token_expired", "the token has expired")
        if nbf > now + self._leeway or iat > now + self._leeway:
            raise TokenError("token_not_yet_valid", "the token is not valid yet")
        if exp - iat > self._max_lifetime:
            raise TokenError(
                "token_lifetime_too_long",
                f"the token lifetime exceeds {self._max_lifetime} seconds",
            )
        if self._trusted is not None and iss not in self._trusted:
            raise TokenError("token_issuer_mismatch", f"tokens from {iss} are not accepted here")
        return claims

    def _addressed_to_us(self, aud: object) -> bool:
        if isinstance(aud, str):
            return aud == self._audience
        if isinstance(aud, list):
            return self._audience in aud and all(isinstance(item, str) for item in aud)
        return False


def _is_time(value: object) -> bool:
    # JSON from Python may carry NaN or Infinity, which would slip through every comparison.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
