"""The notes service's tables: notes and their tags, tenant-owned, with a cross-table key."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import ForeignKeyConstraint, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tenantry.platform.storage import ServiceSchema, TenantOwned


class Base(DeclarativeBase):
    pass


class Note(TenantOwned, Base):
    __tablename__ = "notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    text: Mapped[str] = mapped_column(String(100))
    tags: Mapped[list[Tag]] = relationship(back_populates="note", lazy="select")


class Tag(TenantOwned, Base):
    __tablename__ = "tags"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "note_id"], ["notes.tenant_id", "notes.id"]),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    note_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    note: Mapped[Note] = relationship(back_populates="tags")


MIGRATIONS = Path(__file__).with_name("migrations")


def schema(service: str = "notes") -> ServiceSchema:
    """The notes tables under any service name (two "services" may each keep a copy)."""
    return ServiceSchema(service, Base.metadata, MIGRATIONS, head_revision="0001")


SCHEMA = schema()
