"""identity's tables: one row per account, owned by the site (tenant) it belongs to."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Float, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TenantOwned


class IdentityBase(DeclarativeBase):
    """Declarative base of identity's own database."""


class Account(TenantOwned, IdentityBase):
    """A person's membership of one site, with their role and password hash."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)

    def public(self) -> dict[str, str]:
        """What the API shows of an account (never the hash)."""
        return {"account_id": self.account_id, "email": self.email, "role": self.role}


SCHEMA = ServiceSchema("identity", IdentityBase.metadata, Path(__file__).with_name("migrations"))
"""identity's tables on the global database, built by its revisions."""
