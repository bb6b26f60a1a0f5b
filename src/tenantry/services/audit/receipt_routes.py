"""Erasure receipts signed with the region's audit key, so a customer checks a receipt with
the same verifier key as the tenant's log checkpoints, and against the log's erasure event.

The signed text starts with its own first line, `tenantry erasure receipt`, then the receipt
as canonical JSON naming the tenant: it never parses as a checkpoint (whose second line is a
tree size), so this route cannot be used to forge one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tenantry.platform.audit.events import canonical
from tenantry.services.audit.routes import Tenant

RECEIPT_HEADER = "tenantry erasure receipt"
MAX_STORES = 32


class ReceiptIn(BaseModel):
    """What an erasure did, store by store, to sign."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    erasure_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    event_id: str = Field(min_length=1, max_length=36)
    content: str = Field(pattern="^(keep|erase)$")
    stores: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_STORES)
    at: str = Field(max_length=40)


def receipt_text(tenant: str, receipt: dict[str, Any]) -> str:
    """The text a receipt's note signs."""
    return f"{RECEIPT_HEADER}\n{canonical({**receipt, 'tenant': tenant})}\n"


def build_receipt_router(name: str, sign: Any) -> APIRouter:
    """The receipt route, signing as key `name` with `sign(text, name)`."""
    router = APIRouter()

    @router.post("/internal/audit/receipts")
    async def sign_receipt(body: ReceiptIn, tenant: Tenant) -> dict[str, str]:
        """The receipt as a signed note, for the privacy service to hand out."""
        return {"note": sign(receipt_text(tenant.cloud_id, body.model_dump()), name)}

    return router
