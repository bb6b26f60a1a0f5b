"""Act for a tenant outside any request: its signed context from tcs, by site name.

Background work (the attachment cleanup loop) has no request to bring a tenant context, yet
media trusts nothing about a tenant that tcs did not sign. So it asks tcs, as the edge does,
and checks the signature before using the context.
"""

from __future__ import annotations

import time

from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.platform.tenant_context import TenantContextVerifier


class TenantLookup:
    """The tenant of a site and its signed context, straight from tcs."""

    def __init__(self, client: ServiceClient, contexts: TenantContextVerifier) -> None:
        self._client = client
        self._contexts = contexts

    async def by_site(self, site: str) -> tuple[TenantContext, str] | None:
        """The tenant of `site` and its signed context; None if tcs knows no such site.

        Raises ApiError 503 `tcs_unavailable` when tcs cannot say (try again later).
        """
        response = await self._client.call(
            "tcs", "GET", "/internal/tcs/tenants/by-site/{site}", params={"site": site}
        )
        if response.status in (404, 422):
            return None
        if response.status != 200:
            raise ApiError(503, "tcs_unavailable", f"tcs answered {response.status}")
        token = str(response.json()["context"])
        return self._contexts.verify(token, time.time()), token
