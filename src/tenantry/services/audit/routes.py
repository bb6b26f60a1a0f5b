"""The audit service's routes: appends from services (internal), the log and its proofs (public).

Public routes come through the edge, in the site's tenant context: a site sees its own log only,
and a site that does not exist is the edge's 404. Proof parameters outside the log are a 400
with a reason code, never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tenantry.platform.audit.actions import ACTIONS
from tenantry.platform.audit.events import ACTOR_KINDS, AuditEventError, refuse_secrets
from tenantry.platform.context import MissingTenantError, TenantContext, require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.users import Admin, SignedIn
from tenantry.services.audit.store import AuditStore

MAX_INDEX = 2**53
MAX_EVENTS_PER_CALL = 500


def signed_tenant() -> TenantContext:
    """The tenant of the request's signed tenant context; 400 `tenant_required` without one."""
    try:
        return require_tenant()
    except MissingTenantError:
        raise ApiError(400, "tenant_required", "this route needs a tenant context") from None


Tenant = Annotated[TenantContext, Depends(signed_tenant)]
Index = Annotated[int, Query(ge=0, le=MAX_INDEX)]


class ActorIn(BaseModel):
    """Who acted."""

    type: str = Field(pattern="^(" + "|".join(ACTOR_KINDS) + ")$")
    id: str = Field(min_length=1, max_length=128)


class EventIn(BaseModel):
    """One event as `AuditEvent.wire` sends it."""

    id: str = Field(min_length=1, max_length=36)
    actor: ActorIn
    action: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")
    target: str = Field(max_length=256)
    time: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    detail: dict[str, Any]


class AppendIn(BaseModel):
    """A batch of events for the tenant's log, in the order they happened."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_CALL)


def checked_events(body: AppendIn) -> list[dict[str, Any]]:
    """The batch's events as dicts; 422 for an unknown action or a detail holding secrets."""
    events = [event.model_dump() for event in body.events]
    for event in events:
        if event["action"] not in ACTIONS:
            raise ApiError(422, "unknown_action", f"no audit action {event['action']!r}")
        try:
            refuse_secrets(event["action"], event["detail"])
        except AuditEventError as exc:
            raise ApiError(422, "audit_event_refused", str(exc)) from None
    return events


def b64(digest: bytes) -> str:
    """A hash as a proof carries it."""
    return base64.b64encode(digest).decode()


def build_router(store: AuditStore, verifier_key: str) -> APIRouter:
    """Every route of the audit service."""
    router = APIRouter(tags=["audit"])

    @router.post("/internal/audit/events", status_code=201)
    async def append(body: AppendIn, _tenant: Tenant) -> dict[str, object]:
        indexes = await asyncio.to_thread(store.append, checked_events(body))
        return {"indexes": indexes}

    @router.get("/internal/audit/events")
    async def internal_events(
        _tenant: Tenant,
        after: Annotated[int, Query(ge=-1, le=MAX_INDEX)] = -1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> dict[str, object]:
        return await events_page(store, after, limit)

    @router.get("/rest/audit/events")
    async def events(
        _admin: Admin,
        after: Annotated[int, Query(ge=-1, le=MAX_INDEX)] = -1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, object]:
        """The site's events after leaf index `after`, oldest first (newest last)."""
        return await events_page(store, after, limit)

    @router.get("/rest/audit/checkpoint")
    async def checkpoint(_user: SignedIn) -> dict[str, object]:
        """The latest signed checkpoint of the site's log (signed now if the log grew)."""
        latest = await asyncio.to_thread(store.checkpoint)
        if latest is None:
            raise ApiError(404, "log_empty", "the site's audit log holds no events yet")
        return {"size": latest.size, "checkpoint": latest.note, "key": verifier_key}

    @router.get("/rest/audit/proof/inclusion")
    async def inclusion(_user: SignedIn, index: Index, size: Index) -> dict[str, object]:
        """The inclusion proof of entry `index` in the tree of `size` entries."""
        await check_size(store, size)
        if index >= size:
            raise ApiError(400, "index_out_of_range", f"index {index} is not below size {size}")
        proof = await asyncio.to_thread(store.inclusion, index, size)
        return {"index": index, "size": size, "hashes": [b64(h) for h in proof]}

    @router.get("/rest/audit/proof/consistency")
    async def consistency(
        _user: SignedIn,
        first: Annotated[int, Query(alias="from", ge=1, le=MAX_INDEX)],
        second: Annotated[int, Query(alias="to", ge=1, le=MAX_INDEX)],
    ) -> dict[str, object]:
        """The consistency proof from the tree of `from` entries to the tree of `to`."""
        await check_size(store, second)
        if first > second:
            raise ApiError(400, "sizes_out_of_order", f"from ({first}) is beyond to ({second})")
        proof = await asyncio.to_thread(store.consistency, first, second)
        return {"from": first, "to": second, "hashes": [b64(h) for h in proof]}

    return router


async def events_page(store: AuditStore, after: int, limit: int) -> dict[str, object]:
    """One page of the scope's log, as every events route answers it."""
    rows, size = await asyncio.to_thread(store.entries, after, limit)
    return {
        "size": size,
        "events": [{"index": index, **json.loads(text)} for index, text in rows],
    }


async def check_size(store: AuditStore, size: int) -> None:
    """Refuse (400) a proof size beyond the scope's log, or of an empty log."""
    current = await asyncio.to_thread(store.size)
    if size > current:
        raise ApiError(400, "size_beyond_log", f"the log holds {current} entries, not {size}")
    if size == 0:
        raise ApiError(400, "size_beyond_log", "a proof needs a log of at least one entry")
