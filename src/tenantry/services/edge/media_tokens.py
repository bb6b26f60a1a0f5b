"""Media tokens at the edge: plain links (`<img src>`, downloads) carry no user token and no
site header, only `?token=` that media signed. The edge checks it is a genuine, current media
token and learns from it which site the request is for; media checks its scope again."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from tenantry.platform.errors import ApiError
from tenantry.platform.keys import KeyRepository
from tenantry.platform.tokens import TokenError, TokenVerifier

AUDIENCE = "tenantry-media"
ISSUER = "media"
MAX_LIFETIME = 600


@dataclass(frozen=True, slots=True)
class MediaTokenSite:
    """The tenant a media token names: its cloud id and its site."""

    cloud_id: str
    site: str


class MediaTokens:
    """Verify media tokens with media's public key (no replay check: links are reused)."""

    def __init__(self, keys: KeyRepository) -> None:
        self._verifier = TokenVerifier(
            audience=AUDIENCE,
            keys=keys,
            replay=None,
            leeway=0,
            max_lifetime=MAX_LIFETIME,
            trusted_issuers=(ISSUER,),
        )

    def verify(self, query_string: bytes) -> MediaTokenSite:
        """The site of the `token` in a query string; 403 with the reason when it is not valid."""
        values = parse_qs(query_string.decode("latin-1")).get("token", [])
        if len(values) != 1 or not values[0]:
            raise ApiError(403, "media_token_missing", "this URL needs one media token (?token=)")
        try:
            claims = self._verifier.verify(values[0])
        except TokenError as exc:
            code = exc.code.removeprefix("token_")
            raise ApiError(403, f"media_token_{code}", exc.message) from exc
        tenant, site = claims.get("tenant"), claims.get("site")
        if not isinstance(tenant, str) or not isinstance(site, str):
            raise ApiError(403, "media_token_malformed", "the media token names no site")
        return MediaTokenSite(tenant, site)
