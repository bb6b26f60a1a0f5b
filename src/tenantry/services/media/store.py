"""The media service's rows: files, uploads and their chunks, settings and bytes in use; read and
written through the tenant session (which adds the tenant to every statement)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, update

from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.media.models import (
    MEDIA_TYPE_LENGTH,
    MediaFile,
    MediaSettings,
    MediaUpload,
    MediaUploadChunk,
    MediaUsage,
)

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
_SETTINGS_ROW = "tenant"
_USAGE_ROW = "tenant"


@dataclass(frozen=True, slots=True)
class FileRow:
    """One file's metadata as stored."""

    id: str
    collection: str
    name: str
    media_type: str
    size: int
    sha256: str
    key_version: int
    status: str
    reason: str | None
    preview_pages: int
    created_at: datetime
    updated_at: datetime
    uploaded_by: str | None = None
    """The account that uploaded it (None: a service, or a file from before it was kept)."""

    def public(self) -> dict[str, Any]:
        """The file as the API shows it (no key version: that is media's business; no
        uploader: the product that owns the collection says who added what)."""
        document = asdict(self)
        del document["key_version"]
        del document["uploaded_by"]
        document["created_at"] = self.created_at.isoformat()
        document["updated_at"] = self.updated_at.isoformat()
        return document


@dataclass(frozen=True, slots=True)
class UploadRow:
    """A chunked upload under way."""

    id: str
    collection: str
    name: str
    size: int
    chunk_size: int
    created_at: datetime
    uploaded_by: str | None = None

    @property
    def chunk_count(self) -> int:
        """How many chunks the whole file takes (at least one)."""
        return max(1, -(-self.size // self.chunk_size))

    def chunk_length(self, index: int) -> int:
        """The exact size chunk `index` must have."""
        if index < self.chunk_count - 1:
            return self.chunk_size
        return self.size - self.chunk_size * (self.chunk_count - 1)


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A received chunk."""

    index: int
    size: int
    sha256: str
    key_version: int


@dataclass(frozen=True, slots=True)
class Settings:
    """A tenant's media settings (None: the cloud's default)."""

    view_only: bool = False
    max_file_bytes: int | None = None
    quota_bytes: int | None = None


_FILE_COLUMNS = [getattr(MediaFile, name) for name in FileRow.__dataclass_fields__]
_UPLOAD_COLUMNS = [getattr(MediaUpload, name) for name in UploadRow.__dataclass_fields__]
_CHUNK_COLUMNS = [getattr(MediaUploadChunk, name) for name in ChunkRow.__dataclass_fields__]


def insert_file(session: TenantSession, row: FileRow) -> None:
    """Add a file's row."""
    session.insert_rows(MediaFile, [asdict(row)])


def get_file(session: TenantSession, file_id: str, *, trashed_too: bool = False) -> FileRow | None:
    """The file with this id, if the tenant has one (out of the trash, unless `trashed_too`)."""
    query = select(*_FILE_COLUMNS).where(MediaFile.id == file_id)
    if not trashed_too:
        query = query.where(MediaFile.trashed.is_(False))
    found = session.rows(query).first()
    return None if found is None else FileRow(**found._mapping)


def list_files(session: TenantSession, collection: str) -> list[FileRow]:
    """Every file of a collection that is not in the trash, oldest first."""
    query = (
        select(*_FILE_COLUMNS)
        .where(MediaFile.collection == collection, MediaFile.trashed.is_(False))
        .order_by(MediaFile.created_at, MediaFile.id)
    )
    return [FileRow(**found._mapping) for found in session.rows(query)]


def finish_file(
    session: TenantSession,
    file_id: str,
    outcome: tuple[str, str | None, int],
    media_type: str | None,
    now: datetime,
) -> bool:
    """Record processing's (status, reason, pages); False when the file was deleted meanwhile."""
    status, reason, pages = outcome
    values: dict[str, Any] = {
        "status": status,
        "reason": reason,
        "preview_pages": pages,
        "updated_at": now,
    }
    if media_type:
        values["media_type"] = media_type[:MEDIA_TYPE_LENGTH]
    result = session.rows(
        update(MediaFile).where(MediaFile.id == bindparam("file_id")).values(**values),
        {"file_id": file_id},
    )
    return bool(result.rowcount)


def set_trashed(session: TenantSession, file_id: str, trashed: bool) -> bool:
    """Put a file in the trash or take it out; False when there is no such file."""
    result = session.rows(
        update(MediaFile)
        .where(MediaFile.id == bindparam("file_id"))
        .values(trashed=bindparam("in_trash")),
        {"file_id": file_id, "in_trash": trashed},
    )
    return bool(result.rowcount)


def set_collection_trashed(
    session: TenantSession, collection: str, trashed: bool, keep: Sequence[str] = ()
) -> int:
    """Put every file of a collection in the trash or take them out, but those in `keep`;
    how many files there were to change."""
    query = update(MediaFile).where(MediaFile.collection == bindparam("collection_name"))
    if keep:
        query = query.where(MediaFile.id.not_in(list(keep)))
    result = session.rows(
        query.values(trashed=bindparam("in_trash")),
        {"collection_name": collection, "in_trash": trashed},
    )
    return int(result.rowcount)


def delete_file(session: TenantSession, file_id: str) -> bool:
    """Remove a file's row; False when there was none (deleted meanwhile)."""
    result = session.rows(
        delete(MediaFile).where(MediaFile.id == bindparam("file_id")), {"file_id": file_id}
    )
    return bool(result.rowcount)


def counted_bytes(session: TenantSession) -> int:
    """Bytes the tenant holds or has reserved, counted: stored files plus uploads under way."""
    files = session.rows(select(func.coalesce(func.sum(MediaFile.size), 0))).scalar_one()
    uploads = session.rows(select(func.coalesce(func.sum(MediaUpload.size), 0))).scalar_one()
    return int(files) + int(uploads)


def used_bytes(session: TenantSession) -> int:
    """Bytes the tenant holds or has reserved, as its usage row keeps them (counted if none)."""
    found = session.rows(select(MediaUsage.used_bytes)).first()
    return counted_bytes(session) if found is None else int(found.used_bytes)


_CHARGE = (
    update(MediaUsage)
    .where(MediaUsage.used_bytes + bindparam("size") <= bindparam("quota"))
    .values(used_bytes=MediaUsage.used_bytes + bindparam("size"))
)
_RELEASE = update(MediaUsage).values(
    used_bytes=case(
        (MediaUsage.used_bytes < bindparam("size"), 0),
        else_=MediaUsage.used_bytes - bindparam("size"),
    )
)


def charge(session: TenantSession, size: int, quota: int) -> bool:
    """Add `size` bytes to the tenant's usage if it stays within `quota`; False if it would not.

    One conditional UPDATE decides, so two transactions charging at once cannot both pass: the
    database serialises writes to the row and the second re-checks against the first's total.
    It runs first in its transaction (taking the write lock at once on SQLite). A tenant
    without a usage row yet gets one, counted from its files and uploads; two transactions
    making it at once collide on its key (IntegrityError) and the caller retries.
    """
    result = session.rows(_CHARGE, {"size": size, "quota": quota})
    if result.rowcount:
        return True
    if session.rows(select(MediaUsage.used_bytes)).first() is not None:
        return False
    used = counted_bytes(session)
    allowed = used + size <= quota
    total = used + size if allowed else used
    session.insert_rows(MediaUsage, [{"scope": _USAGE_ROW, "used_bytes": total}])
    return allowed


def release(session: TenantSession, size: int) -> None:
    """Take `size` bytes off the tenant's usage (never below zero)."""
    session.rows(_RELEASE, {"size": size})


def collection_files(session: TenantSession, collection: str) -> list[tuple[str, int]]:
    """(id, size) of every file of a collection."""
    query = select(MediaFile.id, MediaFile.size).where(MediaFile.collection == collection)
    return [(str(found.id), int(found.size)) for found in session.rows(query)]


def collection_uploads(session: TenantSession, collection: str) -> list[tuple[str, int]]:
    """(id, size) of every upload under way into a collection."""
    query = select(MediaUpload.id, MediaUpload.size).where(MediaUpload.collection == collection)
    return [(str(found.id), int(found.size)) for found in session.rows(query)]


def insert_upload(session: TenantSession, row: UploadRow) -> None:
    """Open an upload session."""
    session.insert_rows(MediaUpload, [asdict(row)])


def get_upload(session: TenantSession, upload_id: str) -> UploadRow | None:
    """The upload with this id, if the tenant has one."""
    found = session.rows(select(*_UPLOAD_COLUMNS).where(MediaUpload.id == upload_id)).first()
    return None if found is None else UploadRow(**found._mapping)


def upload_chunks(session: TenantSession, upload_id: str) -> list[ChunkRow]:
    """The chunks of an upload received so far, in order."""
    query = (
        select(*_CHUNK_COLUMNS)
        .where(MediaUploadChunk.upload_id == upload_id)
        .order_by(MediaUploadChunk.index)
    )
    return [ChunkRow(**found._mapping) for found in session.rows(query)]


def put_chunk(session: TenantSession, upload_id: str, chunk: ChunkRow) -> None:
    """Record a received chunk, replacing an earlier copy of the same index."""
    session.rows(
        delete(MediaUploadChunk).where(
            MediaUploadChunk.upload_id == bindparam("upload_id"),
            MediaUploadChunk.index == bindparam("index"),
        ),
        {"upload_id": upload_id, "index": chunk.index},
    )
    session.insert_rows(MediaUploadChunk, [{"upload_id": upload_id, **asdict(chunk)}])


def delete_upload(session: TenantSession, upload_id: str) -> bool:
    """Close an upload session, its chunk rows with it; False when there was none."""
    params = {"upload_id": upload_id}
    session.rows(
        delete(MediaUploadChunk).where(MediaUploadChunk.upload_id == bindparam("upload_id")),
        params,
    )
    result = session.rows(
        delete(MediaUpload).where(MediaUpload.id == bindparam("upload_id")), params
    )
    return bool(result.rowcount)


def get_settings(session: TenantSession) -> Settings:
    """The tenant's settings, or the defaults when it never set any."""
    found = session.rows(
        select(MediaSettings.view_only, MediaSettings.max_file_bytes, MediaSettings.quota_bytes)
    ).first()
    if found is None:
        return Settings()
    return Settings(bool(found.view_only), found.max_file_bytes, found.quota_bytes)


def change_settings(session: TenantSession, changes: Mapping[str, Any]) -> None:
    """Set the named settings of the tenant, keeping the others (the defaults if it had none).

    One UPDATE changes only the columns named, so two changes of different settings at once
    both hold. A tenant without a row yet gets one; two transactions making it at once collide
    on its key (IntegrityError) and the caller retries.
    """
    if not changes:
        return
    result = session.rows(update(MediaSettings).values(**changes))
    if not result.rowcount:
        first = replace(Settings(), **changes)
        session.insert_rows(MediaSettings, [{"scope": _SETTINGS_ROW, **asdict(first)}])


def rename_file(session: TenantSession, file_id: str, name: str, now: datetime) -> None:
    """Change a file's display name."""
    session.rows(
        update(MediaFile)
        .where(MediaFile.id == bindparam("file_id"))
        .values(name=name, updated_at=now),
        {"file_id": file_id},
    )
