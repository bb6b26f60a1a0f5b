"""Keep one tenant from starving the others by capping its in-flight requests per process.

Each service process serves many tenants from one event loop and one connection pool. Without a
cap, a single tenant that floods a service holds every worker slot and every pooled connection,
and the other tenants' requests queue behind it. This middleware counts the requests each tenant
has in flight and refuses the ones over the cap with 503 and `Retry-After`, so the flood backs off
while everyone else is still served.
"""

from __future__ import annotations

from tenantry.platform.asgi import ASGIApp, Receive, Scope, Send, send_error
from tenantry.platform.context import current_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.metrics import TENANT_CONCURRENCY_REFUSED

DEFAULT_CAP = 32
REASON = "tenant_concurrency_cap"
RETRY_AFTER_SECONDS = 1


class TenantConcurrencyMiddleware:
    """Refuse a tenant's request while it already has `cap` requests in flight in this process.

    It reads the tenant that service authentication established, so it must run inside
    `ServiceAuthMiddleware`. Requests without a tenant are neither counted nor refused.
    """

    def __init__(self, app: ASGIApp, *, service: str, cap: int = DEFAULT_CAP) -> None:
        if cap < 1:
            raise ValueError("the per-tenant concurrency cap must be at least 1")
        self.app = app
        self.cap = cap
        self._refused = TENANT_CONCURRENCY_REFUSED.labels(service=service)
        self._in_flight: dict[str, int] = {}

    def in_flight(self, tenant_id: str) -> int:
        """How many requests of `tenant_id` this process is serving right now."""
        return self._in_flight.get(tenant_id, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tenant = current_tenant.get()
        if scope["type"] != "http" or tenant is None:
            await self.app(scope, receive, send)
            return
        tenant_id = tenant.cloud_id
        # Check and increment run with no await between them, so the event loop cannot
        # interleave another request of the same tenant here.
        count = self._in_flight.get(tenant_id, 0)
        if count >= self.cap:
            self._refused.inc()
            await send_error(
                send,
                ApiError(
                    503,
                    REASON,
                    "this tenant has too many requests in progress; retry shortly",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                ),
            )
            return
        self._in_flight[tenant_id] = count + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._release(tenant_id)

    def _release(self, tenant_id: str) -> None:
        remaining = self._in_flight[tenant_id] - 1
        if remaining:
            self._in_flight[tenant_id] = remaining
        else:
            # Drop idle tenants so the table only ever holds tenants with work in flight.
            del self._in_flight[tenant_id]
