"""The key service's owner routes: the operator names a root key's owner, identity reports changes.

Both take no tenant. Handlers are plain functions, so rotations run in a worker thread, and
every answer says `cache-control: no-store` like all of kms.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict

from tenantry.services.kms.errors import NO_STORE, provider_errors
from tenantry.services.kms.owners import KeyOwners
from tenantry.services.kms.schemas import AccountId

PREFIX = "/internal/kms"


class OwnerRequest(BaseModel):
    """The account (an identity account id) that owns the active root key from now on."""

    model_config = ConfigDict(extra="forbid", strict=True)

    owner: AccountId


class OwnerChanged(BaseModel):
    """identity's report that an account's role changed (to `role`), or that it was deactivated
    or removed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    account: AccountId
    change: Literal["role_changed", "deactivated", "removed"]
    role: Literal["admin", "member", "viewer"] | None = None


def no_store(response: Response) -> None:
    """Forbid caching of the answer."""
    response.headers.update(NO_STORE)


def build_owner_router(owners: KeyOwners) -> APIRouter:
    """The routes that set a region's root key owner and react to an owner's change."""
    router = APIRouter(prefix=PREFIX, tags=["kms"], dependencies=[Depends(no_store)])

    @router.post("/root-key/owner")
    def set_owner(body: OwnerRequest) -> dict[str, object]:
        return owners.set_owner(body.owner).public()

    @router.post("/owners/changed")
    def owner_changed(body: OwnerChanged) -> dict[str, object]:
        with provider_errors(unavailable="root_key_unavailable"):
            return owners.owner_changed(body.account, body.change, body.role).public()

    return router
