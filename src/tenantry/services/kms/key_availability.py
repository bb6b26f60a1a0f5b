"""Tell tcs whether a tenant's own key works, so every edge and service follows within a second.

tcs records it in the catalog, puts it into the tenant's signed context, and wakes the edges
through its change feed; the call is idempotent, so the key watch simply repeats it until tcs
has answered.
"""

from __future__ import annotations

import structlog

from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError
from tenantry.services.kms.key_watch import Tell

TELL_TIMEOUT_SECONDS = 3.0
log = structlog.get_logger("tenantry.kms.watch")


def tcs_teller(client: ServiceClient) -> Tell:
    """A `Tell` that records a tenant's key availability in tcs; False if tcs did not take it."""

    async def tell(cloud_id: str, available: bool) -> bool:
        try:
            response = await client.call(
                "tcs",
                "PUT",
                "/internal/tcs/tenants/{cloud_id}/key-availability",
                params={"cloud_id": cloud_id},
                json={"available": available},
                attempt_seconds=TELL_TIMEOUT_SECONDS,
            )
        except ApiError as exc:
            log.warning("key_availability_not_told", tenant_id=cloud_id, error=exc.code)
            return False
        if response.status != 200:
            log.warning("key_availability_refused", tenant_id=cloud_id, status=response.status)
        return response.status == 200

    return tell
