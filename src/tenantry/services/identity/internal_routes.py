"""identity's operator routes (never forwarded by the edge): resealing emails after a rotation."""

from __future__ import annotations

from fastapi import APIRouter

from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.reseal import ResealRequest, require_signed_tenant
from tenantry.platform.storage.databases import Databases
from tenantry.services.identity.reseal import reseal_batch

PREFIX = "/internal/identity"


def build_internal_router(databases: Databases, data_keys: DataKeys) -> APIRouter:
    """Routes an operator calls with the tenant's signed context."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.post("/reseal")
    async def reseal(body: ResealRequest) -> dict[str, object]:
        require_signed_tenant()

        def batch(keys: TenantKeys) -> dict[str, object]:
            with databases.global_session() as session:
                done = reseal_batch(session, keys, body.cursor, body.limit)
            return done.answer(keys.current.version)

        return await data_keys.run(batch, body.min_version)

    return router
