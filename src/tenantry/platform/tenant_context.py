"""Signed tenant contexts: the only source services trust for who a tenant is and where it lives.

tcs signs a short JWT per tenant with its own service key; the edge attaches it to every request
it forwards; each service verifies it against tcs's public key and nothing else.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.platform.service_keys import KeyRepository, ServiceKey
from tenantry.platform.tokens import TokenError, TokenSigner, TokenVerifier

AUDIENCE = "tenantry-tenant-context"
ISSUER = "tcs"
LIFETIME_SECONDS = 300
HEADER = "x-tenantry-tenant-context"
_CACHE_SIZE = 4096


def context_signer(key: ServiceKey) -> TokenSigner:
    """The signer tcs vouches with: contexts are meant to be reused, so it reuses its tokens.

    A context names the tenant's status, so a changed status yields a new token at once.
    """
    return TokenSigner(key, lifetime=LIFETIME_SECONDS, reuse=True)


def sign_tenant_context(signer: TokenSigner, tenant: TenantContext) -> str:
    """Vouch for a tenant's identity, home and status (called by tcs only)."""
    return signer.sign(
        AUDIENCE,
        {
            "tenant": {
                "cloud_id": tenant.cloud_id,
                "site": tenant.site,
                "region": tenant.region,
                "shard": tenant.shard,
                "status": tenant.status,
                "key_available": tenant.key_available,
            }
        },
    )


def _tenant_from_claims(claims: dict[str, Any]) -> TenantContext:
    raw = claims.get("tenant")
    if not isinstance(raw, dict):
        raise ApiError(403, "tenant_context_invalid", "the tenant context carries no tenant")
    try:
        return TenantContext(
            cloud_id=str(raw["cloud_id"]),
            site=str(raw["site"]),
            region=str(raw["region"]),
            shard=str(raw["shard"]),
            status=str(raw["status"]),
            key_available=raw.get("key_available", True) is not False,
        )
    except KeyError as exc:
        raise ApiError(403, "tenant_context_invalid", f"tenant context lacks {exc}") from exc


class TenantContextVerifier:
    """Check a tenant context was signed by tcs and is current; remember verified ones briefly.

    A context is reused for many requests, so replay is expected and not checked here; the
    service token that travels with it is single-use and names the same tenant.
    """

    def __init__(self, keys: KeyRepository) -> None:
        self._verifier = TokenVerifier(
            audience=AUDIENCE, keys=keys, replay=None, trusted_issuers=(ISSUER,)
        )
        self._cache: OrderedDict[str, tuple[TenantContext, float]] = OrderedDict()

    def verify(self, token: str, now: float) -> TenantContext:
        """Return the tenant a context vouches for, or raise a 403 ApiError saying why not."""
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            claims = self._verifier.verify(token)
        except TokenError as exc:
            raise ApiError(403, "tenant_context_untrusted", exc.message) from exc
        tenant = _tenant_from_claims(claims)
        self._cache[token] = (tenant, float(claims["exp"]))
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return tenant
