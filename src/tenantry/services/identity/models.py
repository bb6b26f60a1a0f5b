"""identity's tables: accounts and their revoked tokens, owned by the site (tenant) they belong
to; the kms outbox and the feed of account changes every edge follows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Boolean, Float, Index, Integer, LargeBinary, String, UniqueConstraint, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.audit.outbox import AuditOutboxColumns
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import KEEP_LIVE_COLUMNS, KEEP_LIVE_ON_RESTORE, TenantOwned

ACCOUNT_ID_LENGTH = 32
TOKEN_ID_LENGTH = 64


class IdentityBase(DeclarativeBase):
    """Declarative base of identity's own database."""


class Account(TenantOwned, IdentityBase):
    """A person's membership of one site, with their role and password hash.

    The email and the display name are sealed with the tenant's data key (each bound to this
    row and its column); logins find the email by `email_index`, its blind index
    (`tenantry.platform.blind_index`). A deactivated account (`active` false) cannot log in.
    Every user token names the `token_generation` its account had when it was issued; raising
    it revokes every token issued before.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email_index"),
        # A restore never brings back a token generation that a revocation has raised since.
        {"info": {KEEP_LIVE_COLUMNS: ("token_generation",)}},
    )

    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH), primary_key=True)
    email: Mapped[bytes] = mapped_column(LargeBinary)
    email_index: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    token_generation: Mapped[int] = mapped_column(Integer, server_default="0")
    # When an admin deleted it (it is deactivated, and erased once the grace period ends
    # unless restored); None for an account that is not deleted.
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class RevokedToken(TenantOwned, IdentityBase):
    """One user token revoked before it expired (by logout), kept until it would have expired."""

    __tablename__ = "revoked_tokens"
    # A restore never brings a revoked token back to life.
    __table_args__ = (
        Index("ix_revoked_tokens_account", "tenant_id", "account_id"),
        {"info": KEEP_LIVE_ON_RESTORE},
    )

    token_id: Mapped[str] = mapped_column(String(TOKEN_ID_LENGTH), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    expires_at: Mapped[float] = mapped_column(Float)


class AccountErasure(IdentityBase):
    """A deleted account to erase once its grace period ends, unless an admin restores it.

    Control-plane data the erasure loop reads for every site at once (like `AccountChange`),
    so the tenant is `cloud_id`; it names an account, never what the account holds.
    """

    __tablename__ = "account_erasures"

    cloud_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH), primary_key=True)
    erase_at: Mapped[float] = mapped_column(Float, index=True)


class AccountChange(IdentityBase):
    """One change to an account that edges must hear of: its role, its standing, its tokens.

    Written in the same transaction as the change; edges follow the table, numbered by `seq`,
    and drop what they hold of the account. It is control-plane data read for every site at
    once, so the tenant is `cloud_id`, not a `tenant_id` that row-level security would scope.
    """

    __tablename__ = "account_changes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cloud_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    at: Mapped[float] = mapped_column(Float)


class AuditOutboxRow(AuditOutboxColumns, IdentityBase):
    """An audit event of a tenant, written with the change it records, until audit has it."""

    __tablename__ = "audit_outbox"


class KmsNotice(IdentityBase):
    """One account change that one region's kms has still to hear of (the outbox).

    A row is written in the same transaction as the change itself and deleted once that
    region's kms has answered, so a kms that is down hears of it later, never not at all. It
    is control-plane data keyed by account id, with no `tenant_id` column: the delivery loop
    reads it for every site at once.
    """

    __tablename__ = "kms_notices"

    notice_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(32))
    change: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[float] = mapped_column(Float)


SCHEMA = ServiceSchema(
    "identity", IdentityBase.metadata, Path(__file__).with_name("migrations"), head_revision="0006"
)
"""identity's tables on the global database, built by its revisions."""
