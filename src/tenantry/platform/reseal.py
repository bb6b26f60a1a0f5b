"""Resealing a tenant's data after its data key rotates: the one request and answer every service
that seals speaks, so the operator's command drives them all the same way.

A service reseals in batches, each in its own transaction, going on from a cursor it handed out,
so the work is online (the tenant is served throughout), resumable and measurable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tenantry.platform.context import current_tenant
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError

MAX_BATCH = 1000


class ResealRequest(BaseModel):
    """Where to go on from (None: the start), how many items at most, and how new a key."""

    model_config = ConfigDict(extra="forbid")

    cursor: Annotated[str | None, Field(max_length=80)] = None
    limit: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 200
    min_version: Annotated[int, Field(ge=0)] = 0
    """Reseal under a current key at least this new (the version a rotation just made)."""


@dataclass(frozen=True, slots=True)
class ResealBatch:
    """What one batch did, and where the next one starts (None: the tenant is done)."""

    looked_at: int
    resealed: int
    remaining: int
    next_cursor: str | None
    oldest_version: int | None = None
    """The oldest key version the batch found still in use, where the service tracks it."""

    def answer(self, current_version: int) -> dict[str, object]:
        """The JSON answer of a reseal route."""
        return {
            "looked_at": self.looked_at,
            "resealed": self.resealed,
            "remaining": self.remaining,
            "current_version": current_version,
            "oldest_version": self.oldest_version,
            "next_cursor": self.next_cursor,
        }


def require_signed_tenant() -> None:
    """Refuse (400 `tenant_required`) a reseal call that carries no signed tenant context."""
    if current_tenant.get() is None:
        raise ApiError(400, "tenant_required", "name the tenant with its signed context")


def reseal_router(
    prefix: str,
    data_keys: DataKeys,
    reseal: Callable[[TenantKeys, ResealRequest], ResealBatch],
) -> APIRouter:
    """`POST {prefix}/reseal`, the operator's route: one batch of `reseal` per call.

    The batch runs with the tenant's keys, at least as new as the request's `min_version`
    (fetched again from kms when older), and is rerun if it meets a version not yet held.
    """
    router = APIRouter(prefix=prefix, include_in_schema=False)

    @router.post("/reseal")
    async def reseal_batch(body: ResealRequest) -> dict[str, object]:
        require_signed_tenant()

        def batch(keys: TenantKeys) -> dict[str, object]:
            return reseal(keys, body).answer(keys.current.version)

        return await data_keys.run(batch, body.min_version)

    return router
