"""Accounts as rows: emails and display names sealed on the way in, opened on the way out; an
account is found by its email's blind index."""

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


def new_account(
    keys: TenantKeys, email: str, password_hash: str, role: str, display_name: str | None = None
) -> Account:
    """A new account row of the current tenant, its email sealed and indexed, its name sealed."""
    account_id = uuid.uuid4().hex
    return Account(
        account_id=account_id,
        email=seal_text(keys, TABLE, account_id, "email", normalise_email(email)),
        email_index=email_index(keys, email),
        display_name=(
            None
            if display_name is None
            else seal_text(keys, TABLE, account_id, "display_name", display_name)
        ),
        password_hash=password_hash,
        role=role,
        created_at=time.time(),
        active=True,
        token_generation=0,
    )


def public(keys: TenantKeys, account: Account) -> dict[str, str | bool | None]:
    """What the API shows of an account (never the hash), its email and display name opened."""
    email = open_text(keys, TABLE, account.account_id, "email", account.email)
    name = account.display_name
    return {
        "account_id": account.account_id,
        "email": email,
        "display_name": None
        if name is None
        else open_text(keys, TABLE, account.account_id, "display_name", name),
        "role": account.role,
        "active": account.active,
        "deleted": account.deleted_at is not None,
    }
