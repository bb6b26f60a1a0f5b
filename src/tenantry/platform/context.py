"""Per-request tenant, user and request identity, carried in contextvars only.

Every handler and every storage call reads the tenant from here; nothing about the tenant is
trusted unless it came from a tenant context signed by tcs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What tcs vouches for about one tenant, as signed into its tenant context."""

    cloud_id: str
    site: str
    region: str
    shard: str
    status: str
    key_available: bool = True
    """False while the tenant's own key (BYOK) is disabled or revoked: its data must not open."""


@dataclass(frozen=True, slots=True)
class UserContext:
    """The signed-in account a request acts for, as the edge established it.

    `role` is the account's role as identity holds it now, not as its token said when it was
    issued. `token_id` is the `jti` of the user token the request came with (logout revokes it).
    """

    account_id: str
    role: str
    token_id: str | None = None


class MissingTenantError(RuntimeError):
    """Raised when tenant-owned data is touched outside a tenant context."""


current_tenant: ContextVar[TenantContext | None] = ContextVar("tenantry_tenant", default=None)
current_user: ContextVar[UserContext | None] = ContextVar("tenantry_user", default=None)
current_request_id: ContextVar[str | None] = ContextVar("tenantry_request_id", default=None)
current_tenant_token: ContextVar[str | None] = ContextVar("tenantry_tenant_token", default=None)
"""The tenant context exactly as tcs signed it, for passing on to the services this one calls."""
current_caller: ContextVar[str | None] = ContextVar("tenantry_caller", default=None)
"""The service (or `operator`) whose service token the running request came with."""
current_client_address: ContextVar[str | None] = ContextVar("tenantry_client", default=None)
"""The address of the client the edge received the request from (only the edge can say)."""


def require_tenant() -> TenantContext:
    """Return the tenant of the running request, or raise if there is none."""
    tenant = current_tenant.get()
    if tenant is None:
        raise MissingTenantError("no tenant context is set for this operation")
    return tenant


@contextlib.contextmanager
def tenant_scope(tenant: TenantContext, user: UserContext | None = None) -> Iterator[None]:
    """Run a block as one tenant (and optionally one user), restoring the previous scope after."""
    tenant_token = current_tenant.set(tenant)
    user_token = current_user.set(user)
    try:
        yield
    finally:
        current_user.reset(user_token)
        current_tenant.reset(tenant_token)
