"""What a media token is, for the two places that read one: media itself, and the edge.

A media token is a JWT signed with media's own service key (ES256, `kid = media/<key>`), for the
audience `tenantry-media` (no service answers to that name, so it is never a service token), at
most MAX_LIFETIME seconds long. It names the tenant (cloud id and site, so the edge can find the
tenant from the token alone), one collection, a set of actions, and the account and role of the
user it was issued for; a token for a chunked upload also names that upload, and serves it
alone. Links carry it as `?token=`; it is reusable until it expires, by design, so it is kept
short. The role is the one the user had when the token was issued: a link that names an account
acts with that account's role *now*, which the edge looks up and forwards. Only media issues
them (`tenantry.services.media.tokens`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenantry.platform.errors import ApiError
from tenantry.platform.service_keys import KeyRepository
from tenantry.platform.tokens import TokenError, TokenVerifier

AUDIENCE = "tenantry-media"
ISSUER = "media"
MAX_LIFETIME = 600

TENANT = "tenant"
SITE = "site"
COLLECTION = "collection"
ACTIONS_CLAIM = "actions"
ROLE = "role"
ACCOUNT = "account"
UPLOAD = "upload"


@dataclass(frozen=True, slots=True)
class MediaGrant:
    """What a verified media token allows."""

    tenant: str
    site: str
    collection: str
    actions: frozenset[str]
    role: str
    expires: int
    account: str | None = None
    """The account the token was issued for; None when a service asked for it on its own."""
    upload: str | None = None
    """The one chunked upload the token serves, when it is scoped to one."""


class MediaTokenReader:
    """Verifies media tokens against media's public key (no replay check: links are reused)."""

    def __init__(self, keys: KeyRepository, clock: Callable[[], float] = time.time) -> None:
        self._verifier = TokenVerifier(
            audience=AUDIENCE,
            keys=keys,
            replay=None,
            leeway=0,
            max_lifetime=MAX_LIFETIME,
            trusted_issuers=(ISSUER,),
            clock=clock,
        )

    def read(self, token: str | None) -> MediaGrant:
        """The grant of a valid token; a 403 ApiError `media_token_<reason>` otherwise."""
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
    upload = claims.get(UPLOAD)
    if (
        not isinstance(actions, list)
        or not all(isinstance(f, str) for f in fields)
        or not (upload is None or isinstance(upload, str))
    ):
        raise ApiError(403, "media_token_malformed", "the media token lacks its scope")
    account = claims.get(ACCOUNT)
    if account is not None and not isinstance(account, str):
        raise ApiError(403, "media_token_malformed", "the media token lacks its scope")
    tenant, site, collection, role = (str(f) for f in fields)
    return MediaGrant(
        tenant,
        site,
        collection,
        frozenset(str(a) for a in actions),
        role,
        int(claims["exp"]),
        account,
        upload,
    )
