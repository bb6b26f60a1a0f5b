"""identity's reads and writes of accounts and their tokens, on a tenant session.

Route handlers do HTTP; these functions do storage, with the API's error answers. Each takes
the tenant session it runs in, so everything here is confined to the current tenant by
construction (no tenant filter is written here). Emails and display names are sealed and
opened in `accounts`; here they are only indexed and compared.

Revoking tokens: every user token names its account's `token_generation` when it was issued.
Raising the generation revokes every older token at once (deactivation, a password change); a
single token (logout) is revoked by its `jti`, kept until the token would have expired anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from tenantry.platform.context import require_tenant
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.platform.users import ADMIN
from tenantry.services.identity.accounts import email_index, new_account
from tenantry.services.identity.models import (
    TOKEN_ID_LENGTH,
    Account,
    AccountErasure,
    RevokedToken,
)

MAX_REVOKED_TOKENS = 100
"""Single tokens an account may have revoked at once; one more revokes all of them instead,
so what an edge holds of an account stays small however often it logs out."""


def find(session: TenantSession, account_id: str) -> Account | None:
    """The current tenant's account `account_id`, if it has one."""
    return session.get(Account, (require_tenant().cloud_id, account_id))


def get(session: TenantSession, account_id: str) -> Account:
    """The current tenant's account `account_id`, or 404 `account_not_found`."""
    account = find(session, account_id)
    if account is None:
        raise ApiError(404, "account_not_found", "the site has no such account")
    return account


def find_by_email(session: TenantSession, keys: TenantKeys, email: str) -> Account | None:
    """The account with this email (found by its blind index), if any."""
    index = email_index(keys, email)
    return session.scalars(select(Account).where(Account.email_index == index)).first()


def all_accounts(session: TenantSession) -> Sequence[Account]:
    """Every account of the current tenant, in no particular order (emails are sealed)."""
    return session.scalars(select(Account)).all()


def add(
    session: TenantSession,
    keys: TenantKeys,
    email: str,
    password_hash: str,
    role: str,
    display_name: str | None = None,
) -> Account:
    """Add an account to the current tenant, or 409 `account_exists` if the email has one."""
    account = new_account(keys, email, password_hash, role, display_name)
    session.add(account)
    try:
        session.flush()
    except IntegrityError:
        raise ApiError(409, "account_exists", "that email already has an account") from None
    return account


def keep_an_admin(session: TenantSession, leaving: Account) -> None:
    """Refuse (409 `last_admin`) to take away the site's last active admin."""
    if leaving.role != ADMIN or not leaving.active:
        return
    admins = session.scalar(
        select(func.count(Account.account_id)).where(
            Account.role == ADMIN, Account.active.is_(True)
        )
    )
    if (admins or 0) <= 1:
        raise ApiError(409, "last_admin", "a site keeps at least one active admin")


def revoke_all(session: TenantSession, account: Account) -> None:
    """Revoke every token the account holds now; single revocations are covered by it."""
    account.token_generation += 1
    session.rows(delete(RevokedToken).where(RevokedToken.account_id == account.account_id))


def revoke_token(
    session: TenantSession, account: Account, token_id: str, expires_at: float, now: float
) -> None:
    """Revoke one of the account's tokens until `expires_at` (after which it is dead anyway)."""
    if len(token_id) > TOKEN_ID_LENGTH:
        raise ApiError(400, "invalid_token_id", "that is not a token this service issued")
    mine = RevokedToken.account_id == account.account_id
    session.rows(delete(RevokedToken).where(mine, RevokedToken.expires_at <= now))
    held = session.scalar(select(func.count()).select_from(RevokedToken).where(mine)) or 0
    if held >= MAX_REVOKED_TOKENS:
        revoke_all(session, account)
        return
    if session.get(RevokedToken, (account.tenant_id, token_id)) is None:
        revoked = RevokedToken(
            token_id=token_id, account_id=account.account_id, expires_at=expires_at
        )
        session.add(revoked)


def remove(session: TenantSession, account: Account) -> None:
    """Delete an account and what it revoked: its tokens then name no account at all."""
    session.rows(delete(RevokedToken).where(RevokedToken.account_id == account.account_id))
    session.delete(account)


def soft_delete(session: TenantSession, account: Account, now: float, erase_at: float) -> None:
    """Deactivate a deleted account (every token of it stops at once) and note its erasure,
    due at `erase_at` unless an admin restores it first."""
    account.active = False
    account.deleted_at = now
    revoke_all(session, account)
    session.add(
        AccountErasure(
            cloud_id=require_tenant().cloud_id, account_id=account.account_id, erase_at=erase_at
        )
    )


def restore(session: TenantSession, account: Account) -> None:
    """Bring a deleted account back, active; its old tokens stay revoked (it logs in anew)."""
    account.active = True
    account.deleted_at = None
    session.rows(
        delete(AccountErasure).where(
            AccountErasure.cloud_id == require_tenant().cloud_id,
            AccountErasure.account_id == account.account_id,
        )
    )


def state(session: TenantSession, account_id: str, now: float) -> dict[str, Any] | None:
    """What an edge needs to judge a token of the account: None when there is no such account
    (or it is deleted: to the edge, to issues' assignees and to the operator it is gone)."""
    account = find(session, account_id)
    if account is None or account.deleted_at is not None:
        return None
    revoked = session.scalars(
        select(RevokedToken.token_id).where(
            RevokedToken.account_id == account_id, RevokedToken.expires_at > now
        )
    ).all()
    return {
        "account_id": account.account_id,
        "role": account.role,
        "active": account.active,
        "token_generation": account.token_generation,
        "revoked_tokens": sorted(revoked),
    }
