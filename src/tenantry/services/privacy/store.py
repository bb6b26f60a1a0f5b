"""The privacy service's reads and writes of its requests, on a tenant session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tenantry.platform.context import require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.privacy.models import PrivacyRequest

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
