"""Check the user tokens clients present; identity signs them, the edge is their audience."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from tenantry.platform.errors import ApiError
from tenantry.platform.service_keys import KeyRepository
from tenantry.platform.tokens import TokenError, TokenVerifier

AUDIENCE = "edge"
ISSUER = "identity"
_CACHE_SIZE = 10_000


class UserTokens:
    """Verify a bearer token once, then serve its claims from memory until it expires.

    User tokens are reused for many requests by design, so there is no replay check here;
    the single-use token the edge then signs for the service has one.
    """

    def __init__(self, keys: KeyRepository) -> None:
        self._verifier = TokenVerifier(
            audience=AUDIENCE, keys=keys, replay=None, trusted_issuers=(ISSUER,)
        )
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def verify(self, authorization: str | None, now: float) -> dict[str, Any]:
        """The claims of a valid `Bearer` token, or a 401 ApiError with the reason."""
        if authorization is None or not authorization.startswith("Bearer "):
            raise ApiError(401, "token_missing", "sign in and send `Authorization: Bearer <token>`")
        token = authorization[7:]
        claims = self._cache.get(token)
        if claims is not None and claims["exp"] > now:
            return claims
        try:
            claims = self._verifier.verify(token)
        except TokenError as exc:
            raise ApiError(401, exc.code, exc.message) from exc
        self._cache[token] = claims
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return claims
