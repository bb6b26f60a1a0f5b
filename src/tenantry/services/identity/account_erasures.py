"""Erase deleted accounts whose grace period has ended, unless an admin restored them meanwhile.

Deleting an account deactivates it at once and notes its erasure (`account_erasures`, in the
same transaction); this loop finds the notes that are due, for every site at once, and erases
each account that is still deleted (its row and what it revoked), as the deletion used to do
at once, with its `account_erased` audit event in the same transaction. A restore removes the
note, and a note whose account came back is dropped unused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
from sqlalchemy import delete, select

from tenantry.platform.audit.events import Actor, AuditEvent
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.background import BackgroundLoop
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.directory import GLOBAL
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.databases import Databases
from tenantry.services.identity import store
from tenantry.services.identity.account_changes import AccountChanges
from tenantry.services.identity.models import AccountErasure

POLL_SECONDS = 60.0
BATCH = 100

_IDENTITY = Actor("service", "identity")
"""Erasures are identity's own work, done when the grace period ends."""

log = structlog.get_logger("tenantry.identity.account_erasures")


class AccountErasures:
    """The loop that erases deleted accounts once their grace period has ended."""

    def __init__(
        self,
        databases: Databases,
        changes: AccountChanges,
        audit: AuditOutbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._changes = changes
        self._audit = audit
        self._clock = clock
        self.loop = BackgroundLoop("account-erasures", self.erase_due, POLL_SECONDS)
        """Erases every account whose grace has ended, every POLL_SECONDS."""

    async def erase_due(self) -> int:
        """Erase every deleted account whose time has come; how many were erased."""
        return await asyncio.to_thread(self._erase_due)

    def _erase_due(self) -> int:
        due = (
            select(AccountErasure.cloud_id, AccountErasure.account_id)
            .where(AccountErasure.erase_at <= self._clock())
            .order_by(AccountErasure.erase_at)
            .limit(BATCH)
        )
        with self._databases.engine_for(GLOBAL_SHARD).connect() as connection:
            notes = [(str(cloud), str(account)) for cloud, account in connection.execute(due)]
        erased = 0
        for cloud_id, account_id in notes:
            tenant = TenantContext(cloud_id, "", GLOBAL, GLOBAL_SHARD, "active")
            with tenant_scope(tenant), self._databases.global_session() as session:
                account = store.find(session, account_id)
                if account is not None and account.deleted_at is not None:
                    store.remove(session, account)
                    self._changes.record(session, account_id)
                    self._audit.record(
                        session, AuditEvent("account_erased", account_id, _IDENTITY, detail={})
                    )
                    erased += 1
                session.rows(
                    delete(AccountErasure).where(
                        AccountErasure.cloud_id == cloud_id,
                        AccountErasure.account_id == account_id,
                    )
                )
        if erased:
            self._changes.notify()
            self._audit.wake()
            log.info("accounts_erased", accounts=erased)
        return erased
