"""identity's operator routes (never forwarded by the edge): resealing emails after a rotation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tenantry.platform.context import current_tenant
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.services.identity.models import ACCOUNT_ID_LENGTH
from tenantry.services.identity.reseal import reseal_batch

PREFIX = "/internal/identity"
MAX_BATCH = 1000


class ResealRequest(BaseModel):
    """Where to go on from (None: the start), how many accounts at most, and how new a key."""

    model_config = ConfigDict(extra="forbid")

    cursor: Annotated[str | None, Field(max_length=ACCOUNT_ID_LENGTH)] = None
    limit: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 200
    min_version: Annotated[int, Field(ge=0)] = 0
    """Reseal under a current key at least this new (the version a rotation just made)."""


def build_internal_router(databases: Databases, data_keys: DataKeys) -> APIRouter:
    """Routes an operator calls with the tenant's signed context."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.post("/reseal")
    async def reseal(body: ResealRequest) -> dict[str, object]:
        if current_tenant.get() is None:
            raise ApiError(400, "tenant_required", "name the tenant with its signed context")

        def batch(keys: TenantKeys) -> dict[str, object]:
            with databases.global_session() as session:
                done = reseal_batch(session, keys, body.cursor, body.limit)
            return {
                "looked_at": done.looked_at,
                "resealed": done.resealed,
                "remaining": done.remaining,
                "current_version": keys.current.version,
                "next_cursor": done.next_cursor,
            }

        return await data_keys.run(batch, body.min_version)

    return router
