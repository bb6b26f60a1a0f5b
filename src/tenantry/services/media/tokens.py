"""Issuing media tokens, and checking a token's scope against what a request touches.

What a media token is, and how it is read, is `tenantry.platform.media_tokens`, shared with the
edge; only media signs them, with its own service key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from tenantry.platform.errors import ApiError
from tenantry.platform.media_tokens import (
    ACCOUNT,
    ACTIONS_CLAIM,
    AUDIENCE,
    COLLECTION,
    MAX_LIFETIME,
    ROLE,
    SITE,
    TENANT,
    UPLOAD,
    MediaGrant,
    MediaTokenReader,
)
from tenantry.platform.service_keys import KeyRepository, ServiceKey
from tenantry.platform.tokens import TokenSigner

DEFAULT_LIFETIME = 300
ACTIONS = ("read", "insert", "update", "delete")

SERVICE_ROLE = "service"
"""The role of a token issued to a service acting on its own, with no user behind it."""


class MediaTokens:
    """Issue and verify media tokens with media's service key and the cloud's key repository."""

    def __init__(
        self, key: ServiceKey, keys: KeyRepository, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._clock = clock
        self._reader = MediaTokenReader(keys, clock)

    def issue(
        self,
        *,
        tenant: str,
        site: str,
        collection: str,
        actions: Iterable[str],
        role: str,
        account: str | None = None,
        lifetime: int = DEFAULT_LIFETIME,
        upload: str | None = None,
    ) -> tuple[str, int]:
        """A signed token and its expiry (epoch seconds), for `account` (None: a service); with
        `upload`, it serves that chunked upload alone (not the rest of the collection)."""
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
        if account is not None:
            claims[ACCOUNT] = account
        if upload is not None:
            claims[UPLOAD] = upload
        token = signer.sign(AUDIENCE, claims)
        return token, int(self._clock()) + lifetime

    def verify(self, token: str | None) -> MediaGrant:
        """The grant of a valid token; a 403 ApiError naming what is wrong otherwise."""
        return self._reader.read(token)


def require(
    grant: MediaGrant, *, tenant: str, collection: str, action: str, upload: str | None = None
) -> None:
    """Refuse (403, with the reason) a grant for another tenant, collection or action, or one
    scoped to an upload other than `upload` (None: the route serves no single upload)."""
    if grant.upload is not None and grant.upload != upload:
        raise ApiError(403, "media_token_wrong_upload", "the media token is for another upload")
    if grant.tenant != tenant:
        raise ApiError(403, "media_token_wrong_tenant", "the media token is for another tenant")
    if grant.collection != collection:
        raise ApiError(
            403, "media_token_wrong_collection", "the media token is for another collection"
        )
    if action not in grant.actions:
        raise ApiError(403, "media_token_action_denied", f"the media token does not allow {action}")
