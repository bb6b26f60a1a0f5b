"""The privacy service's tables: each export and erasure asked of a site, with its progress,
the export's zip (a media file) and the erasure's signed receipt; the erasure ledger every
restore replays; the site's transfer records; and its audit outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.audit.outbox import AuditOutboxColumns
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import KEEP_LIVE_ON_RESTORE, TenantOwned

ID_LENGTH = 32


class PrivacyBase(DeclarativeBase):
    """Declarative base of the privacy service's own database (one per shard)."""


class PrivacyRequest(TenantOwned, PrivacyBase):
    """One export or erasure of one account of the site."""

    __tablename__ = "privacy_requests"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    requested_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    content: Mapped[str | None] = mapped_column(String(8), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    stores: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """What each store did so far: its name and the time, with its actions for an erasure."""
    file_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    """The export's zip, a file of media's collection `privacy:<id>`."""
    receipt: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class ErasureLedgerEntry(TenantOwned, PrivacyBase):
    """One erasure of one account, kept so that no restore can bring the account back.

    Why here, and twice: a restore rolls back databases, so the ledger must sit where the
    restore that needs it does not reach. A tenant restore puts back the site's rows of every
    table but those marked `keep_live` (this one is), in the shard's database and the global
    one alike. A region restore (`tenantry backup restore --region R`) rolls back whole
    database files, this table with them, so every entry is written to two databases that
    no single region restore reaches together: the privacy database of the site's shard
    (as soon as identity has accepted the erasure, before any other store is touched) and privacy's
    global database. Restoring the region rewinds the first copy, restoring `global` the
    second; the replay that follows every restore reads both, replays their union, and
    writes each copy's missing entries back, so the ledger heals itself. Only rewinding both
    the region and `global` to before an erasure loses it (the tenant's audit log, rewound
    with the region, would not hold it either); the per-account key that erasure destroys is
    what protects that case.

    It holds no personal data beyond the account's id, which privacy keeps for its receipts
    anyway, and the `content` choice the replay must repeat.
    """

    __tablename__ = "erasure_ledger"
    __table_args__ = {"info": KEEP_LIVE_ON_RESTORE}

    erasure_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    content: Mapped[str] = mapped_column(String(8))
    erased_at: Mapped[float] = mapped_column(Float)


class TransferRecord(TenantOwned, PrivacyBase):
    """Personal data of the site that left its home region, or was refused leaving it.

    Requests forwarded by another region's edge are one row per route class (the service that
    owns the route), day, destination and outcome, their count growing with each flush; a move
    is a row of its own. It names no person: only the site, regions, a category and a volume.
    """

    __tablename__ = "transfer_records"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    """`request` (forwarded by an edge), `move` (the site moved to another region)."""
    category: Mapped[str] = mapped_column(String(64))
    """What left: for requests, the route class (`issues`, `pages`, ...); `site data` for a move."""
    source_region: Mapped[str] = mapped_column(String(32))
    destination_region: Mapped[str] = mapped_column(String(32))
    legal_basis: Mapped[str] = mapped_column(String(16))
    """`adequacy`, `scc` or `none` (`[transfers]` in the topology) when it was recorded."""
    outcome: Mapped[str] = mapped_column(String(16))
    """`transferred`, or `refused` (the pair's basis is `none`: nothing was sent)."""
    day: Mapped[str] = mapped_column(String(10))
    """The UTC day (YYYY-MM-DD) the transfers of this row happened on."""
    volume: Mapped[int] = mapped_column(Integer)
    """Requests forwarded (or refused); for a move, the rows copied."""
    volume_unit: Mapped[str] = mapped_column(String(16))
    first_at: Mapped[float] = mapped_column(Float)
    last_at: Mapped[float] = mapped_column(Float)


class AuditOutboxRow(AuditOutboxColumns, PrivacyBase):
    """An export's or erasure's audit event, written with the request's row, until audit has it."""

    __tablename__ = "audit_outbox"


SCHEMA = ServiceSchema(
    "privacy", PrivacyBase.metadata, Path(__file__).with_name("migrations"), head_revision="0003"
)
"""The privacy service's tables on every shard and in its global database, built by its
revisions."""
