"""Whether a site is served now, answered the same way wherever a request names it.

The edge asks it of every request, and identity of every login (which finds its site by name
from the body, not through the edge's lookup), so a suspended, moving or purged site gets the
same status and reason code at both doors. A purged site is answered like one that never
existed: its name stays taken, but nothing of it is served again.
"""

from __future__ import annotations

from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError


def require_served(tenant: TenantContext) -> None:
    """Refuse a tenant that is not active, or whose own key (BYOK) is unavailable."""
    if tenant.status == "suspended":
        raise ApiError(403, "tenant_suspended", "this site is suspended")
    if tenant.status == "moving":
        raise ApiError(503, "tenant_moving", "this site is moving", {"Retry-After": "1"})
    if tenant.status == "restoring":
        raise ApiError(
            503, "tenant_restoring", "this site is being restored from backup", {"Retry-After": "5"}
        )
    if tenant.status != "active":
        raise unknown_site(tenant.site)
    if not tenant.key_available:
        raise ApiError(
            503,
            "tenant_key_unavailable",
            "this site's encryption key is disabled or revoked by its owner",
            {"Retry-After": "5"},
        )


def unknown_site(site: str) -> ApiError:
    """The answer for a site that does not exist (or was purged)."""
    return ApiError(404, "unknown_site", f"there is no site {site!r}")
