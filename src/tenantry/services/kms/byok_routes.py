"""kms's BYOK routes: put the tenant of the signed tenant context under its own key, or back.

Only the operator may call them (the allowlist says so); the tenant is the one tcs signed the
context for, never one named in the body. Handlers are plain functions: the customer's KMS is
called in a worker thread.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tenantry.services.kms.byok import Byok
from tenantry.services.kms.routes import PREFIX, Tenant, no_store
from tenantry.services.kms.schemas import ByokRequest


def build_byok_router(byok: Byok) -> APIRouter:
    """`POST /internal/kms/byok` (switch to the customer's key) and `DELETE /internal/kms/byok`
    (switch back)."""
    router = APIRouter(prefix=PREFIX, tags=["kms"], dependencies=[Depends(no_store)])

    @router.post("/byok")
    def enable_byok(body: ByokRequest, _tenant: Tenant) -> dict[str, object]:
        return byok.enable(body.aws_kms_key)

    @router.delete("/byok")
    def disable_byok(_tenant: Tenant) -> dict[str, object]:
        return byok.disable()

    return router
