"""The privacy service's reads and writes of its requests, its erasure ledger and its transfer
records, on a tenant session."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tenantry.platform.context import require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.privacy.models import (
    ID_LENGTH,
    ErasureLedgerEntry,
    PrivacyRequest,
    TransferRecord,
)

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


TRANSFER_KINDS = ("request", "move")
TRANSFERRED = "transferred"
REFUSED = "refused"


def transfer_id(
    kind: str, category: str, source: str, destination: str, day: str, outcome: str
) -> str:
    """The id of the one row that aggregates transfers of the same kind, category, pair, day and
    outcome (so a flush sent twice for different counts adds to one row)."""
    key = "\x1f".join((kind, category, source, destination, day, outcome))
    return hashlib.sha256(key.encode()).hexdigest()[:ID_LENGTH]


def add_transfers(session: TenantSession, record: TransferRecord) -> None:
    """Add `record` to the site's transfer records: its volume to the row of the same id, or as
    a new row."""
    found = session.get(TransferRecord, (require_tenant().cloud_id, record.id))
    if found is None:
        session.add(record)
    else:
        found.volume += record.volume
        found.first_at = min(found.first_at, record.first_at)
        found.last_at = max(found.last_at, record.last_at)
        found.legal_basis = record.legal_basis
    session.flush()


def transfers(session: TenantSession) -> list[dict[str, Any]]:
    """Every transfer record of the site, newest first."""
    query = select(TransferRecord).order_by(TransferRecord.last_at.desc(), TransferRecord.id)
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "category": row.category,
            "source_region": row.source_region,
            "destination_region": row.destination_region,
            "legal_basis": row.legal_basis,
            "outcome": row.outcome,
            "day": row.day,
            "volume": row.volume,
            "volume_unit": row.volume_unit,
            "first_at": row.first_at,
            "last_at": row.last_at,
        }
        for row in session.scalars(query).all()
    ]
