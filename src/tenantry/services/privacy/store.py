"""The privacy service's reads and writes of its requests and its erasure ledger, on a tenant
session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tenantry.platform.context import require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.privacy.models import ErasureLedgerEntry, PrivacyRequest

EXPORT = "export"
ERASURE = "erasure"
RUNNING = "running"
DONE = "done"
FAILED = "failed"


def add(session: TenantSession, request: PrivacyRequest) -> None:
    """Keep a new request."""
    session.add(request)
    session.flush()


def get(session: TenantSession, request_id: str, kind: str) -> PrivacyRequest:
    """The site's request of `kind`; 404 `not_found` for any other id."""
    found = session.get(PrivacyRequest, (require_tenant().cloud_id, request_id))
    if found is None or found.kind != kind:
        raise ApiError(404, "not_found", f"the site has no such {kind}")
    return found


def exports_of(session: TenantSession, account_id: str) -> list[PrivacyRequest]:
    """Every export of the account."""
    query = select(PrivacyRequest).where(
        PrivacyRequest.kind == EXPORT, PrivacyRequest.account_id == account_id
    )
    return list(session.scalars(query).all())


def shown(request: PrivacyRequest) -> dict[str, Any]:
    """What the API shows of a request (the link and the receipt are added by the routes)."""
    return {
        "id": request.id,
        "account_id": request.account_id,
        "status": request.status,
        "stores": list(request.stores),
        "created_at": request.created_at,
        "finished_at": request.finished_at,
        "reason": request.reason,
    }


@dataclass(frozen=True, slots=True)
class Erased:
    """One entry of the erasure ledger, apart from any session."""

    erasure_id: str
    account_id: str
    content: str
    erased_at: float


def ledger(session: TenantSession) -> dict[str, Erased]:
    """Every erasure of the site this copy of the ledger holds, by erasure id."""
    rows = session.scalars(select(ErasureLedgerEntry)).all()
    return {
        row.erasure_id: Erased(row.erasure_id, row.account_id, row.content, row.erased_at)
        for row in rows
    }


def enter(session: TenantSession, erased: Erased) -> None:
    """Write one erasure into this copy of the ledger."""
    session.add(
        ErasureLedgerEntry(
            erasure_id=erased.erasure_id,
            account_id=erased.account_id,
            content=erased.content,
            erased_at=erased.erased_at,
        )
    )
    session.flush()
