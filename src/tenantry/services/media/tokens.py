"""Media tokens: what lets a browser or a service touch one collection of one tenant.

A media token is a JWT signed with media's own service key (ES256, `kid = media/<key>`), for the
audience `tenantry-media` (no service answers to that name, so it is never a service token), at
most MAX_LIFETIME seconds long. It names the tenant (cloud id and site, so the edge can find the
tenant from the token alone), one collection, a set of actions, and the role of the user it was
issued for. Links carry it as `?token=`; it is reusable until it expires, by design, so it is
kept short.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tenantry.platform.errors import ApiError
from tenantry.platform.keys import KeyRepository, ServiceKey
from tenantry.platform.tokens import TokenError, TokenSigner, TokenVerifier

AUDIENCE = "tenantry-media"
ISSUER = "media"
MAX_LIFETIME = 600
DEFAULT_LIFETIME = 300
ACTIONS = ("read", "insert", "update", "delete")

TENANT = "tenant"
SITE = "site"
COLLECTION = "collection"
ACTIONS_CLAIM = "actions"
ROLE = "role"

SERVICE_ROLE = "service"
"""The role of a token issued to a service acting on its own, with no user behind it."""


@dataclass(frozen=True, slots=True)
class MediaGrant:
    """What a verified media token allows."""

    tenant: str
    site: str
    collection: str
    actions: frozenset[str]
    role: str
    expires: int


class MediaTokens:
    """Issue and verify media tokens with media's service key and the cloud's key repository."""

    def __init__(
        self, key: ServiceKey, keys: KeyRepository, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._clock = clock
        self._verifier = TokenVerifier(
            audience=AUDIENCE,
            keys=keys,
            replay=None,
            leeway=0,
            max_lifetime=MAX_LIFETIME,
            trusted_issuers=(ISSUER,),
            clock=clock,
        )

    def issue(
        self,
        *,
        tenant: str,
        site: str,
        collection: str,
        actions: Iterable[str],
        role: str,
        lifetime: int = DEFAULT_LIFETIME,
    ) -> tuple[str, int]:
        """A signed token and its expiry (epoch seconds)."""
        chosen = sorted(set(actions))
        if not chosen or any(action not in ACTIONS for action in chosen):
            raise ApiError(422, "invalid_actions", f"actions must be a subset of {ACTIONS}")
        if not 1 <= lifetime <= MAX_LIFETIME:
            raise ApiError(422, "invalid_lifetime", f"lifetime must be 1..{MAX_LIFETIME} s")
        signer = TokenSigner(self._key, lifetime=lifetime, clock=self._clock)
        claims = {
            TENANT: tenant,
            SITE: site,
            COLLECTION: collection,
            ACTIONS_CLAIM: chosen,
            ROLE: role,
        }
        token = signer.sign(AUDIENCE, claims)
        return token, int(self._clock()) + lifetime

    def verify(self, token: str | None) -> MediaGrant:
        """The grant of a valid token; a 403 ApiError naming what is wrong otherwise."""
        if not token:
            raise ApiError(403, "media_token_missing", "this URL needs a media token (?token=)")
        try:
            claims = self._verifier.verify(token)
        except TokenError as exc:
            code = exc.code.removeprefix("token_")
            raise ApiError(403, f"media_token_{code}", exc.message) from exc
        return _grant(claims)


def _grant(claims: dict[str, Any]) -> MediaGrant:
    actions = claims.get(ACTIONS_CLAIM)
    fields = (claims.get(TENANT), claims.get(SITE), claims.get(COLLECTION), claims.get(ROLE))
    if not isinstance(actions, list) or not all(isinstance(f, str) for f in fields):
        raise ApiError(403, "media_token_malformed", "the media token lacks its scope")
    tenant, site, collection, role = (str(f) for f in fields)
    return MediaGrant(
        tenant, site, collection, frozenset(str(a) for a in actions), role, int(claims["exp"])
    )


def require(grant: MediaGrant, *, tenant: str, collection: str, action: str) -> None:
    """Refuse (403, with the reason) a grant for another tenant, collection or action."""
    if grant.tenant != tenant:
        raise ApiError(403, "media_token_wrong_tenant", "the media token is for another tenant")
    if grant.collection != collection:
        raise ApiError(
            403, "media_token_wrong_collection", "the media token is for another collection"
        )
    if action not in grant.actions:
        raise ApiError(403, "media_token_action_denied", f"the media token does not allow {action}")
