"""The operator log's routes: appends from the services that record operator events, and the
log, its checkpoints and proofs for the operator CLI.

None is a public route (the edge forwards none of them), and the allowlist opens them to their
callers only. Each runs in the operator log's own scope (`operator_log_context`), never in the
request's tenant context: a call carrying a tenant context still reaches the operator log
only, so no tenant's log gets an operator event and no operator event leaks into one. Only the
region that keeps the operator log answers them; any other answers 404 `not_operator_region`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query

from tenantry.platform.audit.operator_log import operator_log_context
from tenantry.platform.context import tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.topology import Topology
from tenantry.services.audit.routes import (
    MAX_INDEX,
    AppendIn,
    Index,
    b64,
    check_size,
    checked_events,
    events_page,
)
from tenantry.services.audit.store import AuditStore

_T = TypeVar("_T")


def build_operator_router(
    store: AuditStore, verifier_key: str, topology: Topology, region: str
) -> APIRouter:
    """The operator log's routes of `region`'s audit service."""
    router = APIRouter(tags=["audit"])

    async def in_log(work: Callable[[], Awaitable[_T]]) -> _T:
        with tenant_scope(operator_log_context(topology, region)):
            return await work()

    @router.post("/internal/audit/operator/events", status_code=201)
    async def append(body: AppendIn) -> dict[str, object]:
        events = checked_events(body)

        async def add() -> dict[str, object]:
            return {"indexes": await asyncio.to_thread(store.append, events)}

        return await in_log(add)

    @router.get("/internal/audit/operator/events")
    async def events(
        after: Annotated[int, Query(ge=-1, le=MAX_INDEX)] = -1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, object]:
        """The operator log's events after leaf index `after`, oldest first."""
        return await in_log(lambda: events_page(store, after, limit))

    @router.get("/internal/audit/operator/checkpoint")
    async def checkpoint() -> dict[str, object]:
        """The operator log's latest signed checkpoint (signed now if it grew)."""

        async def latest() -> dict[str, object]:
            signed = await asyncio.to_thread(store.checkpoint)
            if signed is None:
                raise ApiError(404, "log_empty", "the operator log holds no events yet")
            return {"size": signed.size, "checkpoint": signed.note, "key": verifier_key}

        return await in_log(latest)

    @router.get("/internal/audit/operator/proof/inclusion")
    async def inclusion(index: Index, size: Index) -> dict[str, object]:
        """The inclusion proof of entry `index` in the operator log of `size` entries."""

        async def prove() -> dict[str, object]:
            await check_size(store, size)
            if index >= size:
                raise ApiError(400, "index_out_of_range", f"index {index} is not below {size}")
            proof = await asyncio.to_thread(store.inclusion, index, size)
            return {"index": index, "size": size, "hashes": [b64(h) for h in proof]}

        return await in_log(prove)

    @router.get("/internal/audit/operator/proof/consistency")
    async def consistency(
        first: Annotated[int, Query(alias="from", ge=1, le=MAX_INDEX)],
        second: Annotated[int, Query(alias="to", ge=1, le=MAX_INDEX)],
    ) -> dict[str, object]:
        """The consistency proof between two sizes of the operator log."""

        async def prove() -> dict[str, object]:
            await check_size(store, second)
            if first > second:
                raise ApiError(400, "sizes_out_of_order", f"from ({first}) is beyond to ({second})")
            proof = await asyncio.to_thread(store.consistency, first, second)
            return {"from": first, "to": second, "hashes": [b64(h) for h in proof]}

        return await in_log(prove)

    return router
