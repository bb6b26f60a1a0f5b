"""The key service's internal API under `/kms`: tenants' data keys, and the operator's root keys.

The data-key routes serve the tenant of the request's signed tenant context and nobody else;
the root-key routes take no tenant. Handlers are plain functions, so the provider's blocking
calls run in a worker thread. Every answer, errors included, says `cache-control: no-store`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from tenantry.platform.context import (
    MissingTenantError,
    TenantContext,
    current_caller,
    require_tenant,
)
from tenantry.platform.crypto.fields import MAX_KEY_VERSION
from tenantry.services.kms.data_key_store import DataKeyStore
from tenantry.services.kms.errors import NO_STORE, kms_error, provider_errors
from tenantry.services.kms.index_purposes import may_have
from tenantry.services.kms.root_keys import RootKeys
from tenantry.services.kms.rotation import RootRotation
from tenantry.services.kms.schemas import DataKeyOut, IndexKeyOut, RetireRequest, RotateRequest

PREFIX = "/internal/kms"


def signed_tenant() -> TenantContext:
    """The tenant of the request's signed tenant context; 400 `tenant_required` without one."""
    try:
        return require_tenant()
    except MissingTenantError:
        raise kms_error(400, "tenant_required", "this route needs a tenant context") from None


def no_store(response: Response) -> None:
    """Forbid caching of the answer."""
    response.headers.update(NO_STORE)


Tenant = Annotated[TenantContext, Depends(signed_tenant)]
Version = Annotated[int, Path(ge=1, le=MAX_KEY_VERSION)]
# A blind index purpose (a column's own label), hex-encoded so any bytes travel in one segment.
Purpose = Annotated[str, Path(min_length=2, max_length=256, pattern=r"^(?:[0-9a-f]{2})+$")]


def build_router(keys: DataKeyStore, roots: RootKeys, rotation: RootRotation) -> APIRouter:
    """The kms routes for one region's data keys, root key versions and rotation."""
    router = APIRouter(prefix=PREFIX, tags=["kms"], dependencies=[Depends(no_store)])

    @router.get("/data-key")
    def current_data_key(_tenant: Tenant) -> DataKeyOut:
        with provider_errors():
            return DataKeyOut.of(keys.current(), keys.max_age())

    @router.get("/data-key/{version}")
    def data_key(version: Version, _tenant: Tenant) -> DataKeyOut:
        with provider_errors(version=version):
            return DataKeyOut.of(keys.at_version(version), keys.max_age())

    @router.post("/data-key/rotate")
    def rotate_data_key(_tenant: Tenant) -> dict[str, int]:
        with provider_errors():
            return {"version": keys.rotate()}

    @router.post("/data-key/retire")
    def retire_data_keys(body: RetireRequest, _tenant: Tenant) -> dict[str, object]:
        retired, minimum = keys.retire(body.below)
        return {"retired": retired, "min_version": minimum}

    @router.post("/data-key/reopen")
    def reopen_data_keys(_tenant: Tenant) -> dict[str, object]:
        return {"reopened": keys.reopen_for_restore()}

    @router.get("/index-key/{purpose}")
    def index_key(purpose: Purpose, _tenant: Tenant) -> IndexKeyOut:
        wanted = bytes.fromhex(purpose)
        if not may_have(current_caller.get(), wanted):
            raise kms_error(403, "index_purpose_not_allowed", "this index key is another service's")
        with provider_errors():
            return IndexKeyOut.of(keys.index_key(wanted), keys.max_age())

    @router.post("/data-key/destroy")
    def destroy_data_keys(_tenant: Tenant) -> dict[str, int]:
        return {"destroyed": keys.destroy()}

    @router.post("/root-key/rotate")
    def rotate_root_key(body: RotateRequest) -> dict[str, object]:
        with provider_errors(unavailable="root_key_unavailable"):
            return rotation.rotate(body.owner).public()

    @router.get("/root-keys")
    def root_keys() -> list[dict[str, object]]:
        return [key.public() for key in roots.versions(keys.region)]

    return router
