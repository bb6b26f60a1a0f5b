"""identity's export and erase steps for one account (see `platform.personal_data_steps`):
the account row with its email and name opened, the tokens it revoked, its changes; erasure
removes the account at once (email, name, password hash and every token go), refusing the
site's last admin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import delete, select

from tenantry.platform.audit.events import AuditEvent, current_actor
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.context import require_tenant
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.personal_data_steps import (
    EraseStep,
    ExportStep,
    action,
    erased,
    exported,
    require_signed_tenant,
    stamp,
)
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.identity import store
from tenantry.services.identity.account_changes import AccountChanges
from tenantry.services.identity.accounts import public
from tenantry.services.identity.kms_notices import KmsNotices
from tenantry.services.identity.models import AccountChange, AccountErasure, RevokedToken

PREFIX = "/internal/identity/personal-data"
SERVICE = "identity"


def build_privacy_router(
    databases: Databases,
    data_keys: DataKeys,
    notices: KmsNotices,
    changes: AccountChanges,
    audit: AuditOutbox,
) -> APIRouter:
    """The export and erase steps, bound to identity's database, keys, outboxes and feed."""
    router = APIRouter(prefix=PREFIX)

    @router.post("/export")
    async def export_account(body: ExportStep) -> dict[str, Any]:
        """Every record identity holds about the account."""
        require_signed_tenant()

        def read(keys: TenantKeys) -> dict[str, Any]:
            with databases.global_session() as session:
                return exported(SERVICE, _records(session, keys, body.account_id))

        return await data_keys.run(read)

    @router.post("/erase")
    async def erase_account(body: EraseStep) -> dict[str, Any]:
        """Remove the account at once; 404 when the site has none, 409 `last_admin`."""
        require_signed_tenant()
        with databases.global_session() as session:
            account = store.get(session, body.account_id)
            store.keep_an_admin(session, account)
            revoked = len(_revoked(session, body.account_id))
            notes = session.rows(
                delete(AccountErasure).where(
                    AccountErasure.cloud_id == require_tenant().cloud_id,
                    AccountErasure.account_id == body.account_id,
                )
            ).rowcount
            notices.record(session, body.account_id, "removed")
            store.remove(session, account)
            changes.record(session, body.account_id)
            audit.record(
                session,
                AuditEvent(
                    "account_erased",
                    body.account_id,
                    current_actor(SERVICE),
                    detail={"request": "privacy"},
                ),
            )
        changes.notify()
        notices.wake()
        audit.wake()
        return erased(
            SERVICE,
            [
                action("accounts", "deleted", 1),
                action("revoked_tokens", "deleted", revoked),
                action("account_erasures", "deleted", int(notes or 0)),
            ],
        )

    return router


def _revoked(session: TenantSession, account_id: str) -> list[RevokedToken]:
    query = select(RevokedToken).where(RevokedToken.account_id == account_id)
    return list(session.scalars(query).all())


def _records(session: TenantSession, keys: TenantKeys, account_id: str) -> dict[str, Any]:
    account = store.get(session, account_id)
    shown: dict[str, Any] = dict(public(keys, account))
    shown["created_at"] = stamp_of(account.created_at)
    changed = session.scalars(
        select(AccountChange).where(
            AccountChange.cloud_id == require_tenant().cloud_id,
            AccountChange.account_id == account_id,
        )
    ).all()
    return {
        "accounts": [shown],
        "revoked_tokens": [
            {"token_id": token.token_id, "expires_at": stamp_of(token.expires_at)}
            for token in _revoked(session, account_id)
        ],
        "account_changes": [{"seq": change.seq, "at": stamp_of(change.at)} for change in changed],
    }


def stamp_of(epoch: float) -> str:
    """An epoch time as the answers write times."""
    return stamp(datetime.fromtimestamp(epoch, UTC))
