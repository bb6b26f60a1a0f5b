"""Accounts as rows: emails sealed on the way in, opened on the way out, found by blind index."""

from __future__ import annotations

import time
import uuid

from tenantry.platform.blind_index import blind_index
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.sealing import open_text, seal_text
from tenantry.services.identity.models import Account

EMAIL_INDEX_PURPOSE = b"tenantry accounts email index"
TABLE = "accounts"


def normalise_email(email: str) -> str:
    """The one spelling of an email the index sees (schemas already strip and lower-case)."""
    return email.strip().lower()


def email_index(keys: TenantKeys, email: str) -> str:
    """The blind index an account with this email is stored and found under."""
    return blind_index(keys, EMAIL_INDEX_PURPOSE, normalise_email(email))


def new_account(keys: TenantKeys, email: str, password_hash: str, role: str) -> Account:
    """A new account row of the current tenant, its email sealed and indexed."""
    account_id = uuid.uuid4().hex
    return Account(
        account_id=account_id,
        email=seal_text(keys, TABLE, account_id, "email", normalise_email(email)),
        email_index=email_index(keys, email),
        password_hash=password_hash,
        role=role,
        created_at=time.time(),
    )


def public(keys: TenantKeys, account: Account) -> dict[str, str]:
    """What the API shows of an account (never the hash), its email opened."""
    email = open_text(keys, TABLE, account.account_id, "email", account.email)
    return {"account_id": account.account_id, "email": email, "role": account.role}
