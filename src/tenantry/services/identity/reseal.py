"""Re-encrypt a tenant's account emails and display names under its current data key, in batches.

After kms rotates a tenant's data key, emails sealed under older versions are resealed by the
operator in batches: each call handles up to `limit` accounts in one transaction and answers a
cursor to go on from, so the work is online, resumable (resealing a current email is skipped)
and measurable (`remaining` counts the accounts not yet looked at). Blind indexes stay as they
are: they derive from version 1 whatever the current version is.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update

from tenantry.platform.crypto import key_version
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.reseal import ResealBatch
from tenantry.platform.sealing import open_text, seal_text
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.identity.accounts import TABLE
from tenantry.services.identity.models import Account

# Each update names the ciphertexts it read, so an account changed meanwhile is left as the
# change wrote it (under the current key already).
_RESEAL = (
    update(Account)
    .where(
        Account.account_id == bindparam("id"),
        Account.email == bindparam("old_email"),
        Account.display_name.is_not_distinct_from(bindparam("old_name")),
    )
    .values(email=bindparam("new_email"), display_name=bindparam("new_name"))
)


def reseal_batch(
    session: TenantSession, keys: TenantKeys, cursor: str | None, limit: int
) -> ResealBatch:
    """Reseal up to `limit` accounts after `cursor` whose sealed fields are not all current."""
    query = select(Account.account_id, Account.email, Account.display_name).order_by(
        Account.account_id
    )
    if cursor:
        query = query.where(Account.account_id > cursor)
    rows = list(session.rows(query.limit(limit)))
    resealed = 0
    current = keys.current.version
    for row in rows:
        sealed = [row.email] + ([row.display_name] if row.display_name is not None else [])
        if all(key_version(value) == current for value in sealed):
            continue
        values = {
            "id": row.account_id,
            "old_email": row.email,
            "new_email": _resealed(keys, row.account_id, "email", row.email),
            "old_name": row.display_name,
            "new_name": None
            if row.display_name is None
            else _resealed(keys, row.account_id, "display_name", row.display_name),
        }
        resealed += session.rows(_RESEAL, values).rowcount
    next_cursor = rows[-1].account_id if len(rows) == limit else None
    remaining = 0
    if next_cursor is not None:
        after = select(func.count()).select_from(Account).where(Account.account_id > next_cursor)
        remaining = int(session.rows(after).scalar_one())
    return ResealBatch(len(rows), resealed, remaining, next_cursor)


def _resealed(keys: TenantKeys, account_id: str, column: str, sealed: bytes) -> bytes:
    """One column of one account, opened and sealed again under the current key."""
    return seal_text(
        keys, TABLE, account_id, column, open_text(keys, TABLE, account_id, column, sealed)
    )
