"""identity's tables: one row per account, owned by the site (tenant) it belongs to."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Float, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TenantOwned


class IdentityBase(DeclarativeBase):
    """Declarative base of identity's own database."""


class Account(TenantOwned, IdentityBase):
    """A person's membership of one site, with their role and password hash.

    The email is sealed with the tenant's data key (bound to this row and column); logins find
    it by `email_index`, its blind index (`tenantry.platform.blind_index`).
    """

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "email_index"),)

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[bytes] = mapped_column(LargeBinary)
    email_index: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)


SCHEMA = ServiceSchema("identity", IdentityBase.metadata, Path(__file__).with_name("migrations"))
"""identity's tables on the global database, built by its revisions."""
