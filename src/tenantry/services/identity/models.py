"""identity's tables: accounts, owned by the site (tenant) they belong to, and the kms outbox."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Float, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TenantOwned

ACCOUNT_ID_LENGTH = 32


class IdentityBase(DeclarativeBase):
    """Declarative base of identity's own database."""


class Account(TenantOwned, IdentityBase):
    """A person's membership of one site, with their role and password hash.

    The email and the display name are sealed with the tenant's data key (each bound to this
    row and its column); logins find the email by `email_index`, its blind index
    (`tenantry.platform.blind_index`).
    """

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "email_index"),)

    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH), primary_key=True)
    email: Mapped[bytes] = mapped_column(LargeBinary)
    email_index: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)


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


SCHEMA = ServiceSchema("identity", IdentityBase.metadata, Path(__file__).with_name("migrations"))
"""identity's tables on the global database, built by its revisions."""
