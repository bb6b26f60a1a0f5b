"""The media service's work: storing, assembling, serving and deleting a tenant's files.

Handlers call this on the event loop; anything that touches blob bytes (hashing, encrypting,
decrypting, storing) runs in a worker thread so large files never block other requests. The
tenant comes from the request's context (`require_tenant`), never from an argument a client
controls.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from tenantry.platform.audit.events import AuditEvent, current_actor
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.context import current_user, require_tenant
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError, not_found
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.media import blobs, store
from tenantry.services.media.blobs import EncryptedBlobs
from tenantry.services.media.limits import (
    DEFAULT_CHUNK_BYTES,
    MAX_CHUNK_BYTES,
    MIN_CHUNK_BYTES,
    Limits,
)
from tenantry.services.media.models import NAME_LENGTH
from tenantry.services.media.names import display_name
from tenantry.services.media.previews import PreviewFailed, check_file_name
from tenantry.services.media.previews.sniff import sniff
from tenantry.services.media.processing import Processor
from tenantry.services.media.store import FileRow, Settings, UploadRow

HEAD_BYTES = 64 * 1024
"""What a chunked upload is sniffed on when it is stored; processing sniffs the whole file."""
WHOLE_READ_LIMIT = 4 * 1024 * 1024
"""Files up to this size are decrypted whole before the first byte is sent; larger ones are
streamed frame by frame, each frame sent only once it has authenticated (fail closed)."""
_CHARGE_ATTEMPTS = 3
"""A tenant's first charge (or settings change) can collide with another making its row: then
it retries."""


@dataclass(frozen=True, slots=True)
class Download:
    """A file's plaintext: the first part, already checked, then the rest frame by frame."""

    first: bytes
    rest: Iterator[bytes]


@dataclass(frozen=True, slots=True)
class UploadState:
    """An upload and which of its chunks have arrived."""

    upload: UploadRow
    received: list[int]

    def public(self) -> dict[str, object]:
        """The upload as the API shows it: what to send next."""
        have = set(self.received)
        return {
            "id": self.upload.id,
            "collection": self.upload.collection,
            "name": display_name(self.upload.name),
            "size": self.upload.size,
            "chunk_size": self.upload.chunk_size,
            "chunks": self.upload.chunk_count,
            "received": self.received,
            "missing": [i for i in range(self.upload.chunk_count) if i not in have],
        }


class Media:
    """One region's media: rows in the shards' databases, sealed bytes in the blob store."""

    def __init__(
        self,
        databases: Databases,
        data_keys: DataKeys,
        blob_store: EncryptedBlobs,
        limits: Limits,
        processor: Processor,
        retire: Callable[[str], None] | None = None,
        audit: AuditOutbox | None = None,
    ) -> None:
        self.audit = audit
        """Where settings changes are recorded with the change (None: nowhere, in tests)."""
        self.databases = databases
        self.data_keys = data_keys
        self.blobs = blob_store
        self.defaults = limits
        self.processor = processor
        self._retire = retire
        """Keeps a deleted tree for the backup window (`BlobRetirements.retire`); None removes
        it at once (a media without backups)."""

    # -- limits and settings ---------------------------------------------------------------

    def settings(self) -> Settings:
        """The current tenant's settings."""
        with self.databases.session() as session:
            return store.get_settings(session)

    def change_settings(self, changes: Mapping[str, bool | int | None]) -> Settings:
        """Set the named settings of the current tenant (the others stay as they are).

        A site's own limits may only be lower than the operator's (the cloud's defaults):
        a higher one is a 422 `above_operator_limit`, and nothing changes.
        """
        for name, ceiling in (
            ("max_file_bytes", self.defaults.max_file_bytes),
            ("quota_bytes", self.defaults.quota_bytes),
        ):
            value = changes.get(name)
            if isinstance(value, int) and value > ceiling:
                raise ApiError(
                    422,
                    "above_operator_limit",
                    f"{name} may be at most {ceiling}, the limit this cloud's operator set",
                )
        for attempt in range(_CHARGE_ATTEMPTS):
            try:
                with self.databases.session() as session:
                    store.change_settings(session, changes)
                    if self.audit is not None and changes:
                        event = AuditEvent(
                            "media_settings_changed",
                            "media_settings",
                            current_actor("media"),
                            detail=dict(changes),
                        )
                        self.audit.record(session, event)
                break
            except IntegrityError:
                if attempt + 1 == _CHARGE_ATTEMPTS:
                    raise
        if self.audit is not None:
            self.audit.wake()
        return self.settings()

    def limits(self) -> Limits:
        """The current tenant's limits: its own where set (never above the cloud's defaults),
        the cloud's defaults otherwise."""
        settings = self.settings()
        return self.defaults.with_overrides(settings.max_file_bytes, settings.quota_bytes)

    def _check_room(self, size: int) -> Limits:
        """Refuse early a file over the size limit or plainly over quota (charging decides)."""
        limits = self.limits()
        if size > limits.max_file_bytes:
            raise ApiError(
                413, "file_too_large", f"files may be at most {limits.max_file_bytes} bytes"
            )
        with self.databases.session() as session:
            used = store.used_bytes(session)
        if used + size > limits.quota_bytes:
            raise ApiError(
                413,
                "quota_exceeded",
                f"the site's media quota of {limits.quota_bytes} bytes would be exceeded",
            )
        return limits

    def _charge(self, session: TenantSession, size: int, quota: int) -> None:
        """Charge `size` bytes to the tenant in `session`'s transaction, or 413 `quota_exceeded`."""
        if not store.charge(session, size, quota):
            raise ApiError(
                413,
                "quota_exceeded",
                f"the site's media quota of {quota} bytes would be exceeded",
            )

    # -- single uploads --------------------------------------------------------------------

    async def upload(self, collection: str, name: str | None, data: bytes) -> FileRow:
        """Store one whole file and queue its previews; the new file (status `pending`).

        `name` is what the client called the file: only a sanitised copy is kept, and a name
        that tries to be a path gets no preview (`failed`, `invalid_name`).
        """
        _refuse_empty(len(data))
        limits = self._check_room(len(data))
        keys = await self.data_keys.for_tenant()
        file_id = uuid.uuid4().hex
        tenant = require_tenant().cloud_id
        digest = await asyncio.to_thread(
            self._write_original, keys, tenant, collection, file_id, [data]
        )
        return self._register(
            keys,
            collection,
            file_id,
            name,
            len(data),
            digest,
            sniff(data).media_type,
            quota=limits.quota_bytes,
        )

    def _write_original(
        self, keys: TenantKeys, tenant: str, collection: str, file_id: str, chunks: Iterable[bytes]
    ) -> tuple[str, bytes]:
        """Seal and store the original; its sha256 and its first bytes (for sniffing)."""
        hasher = hashlib.sha256()
        head = bytearray()

        def observed() -> Iterator[bytes]:
            for piece in chunks:
                hasher.update(piece)
                if len(head) < HEAD_BYTES:
                    head.extend(piece[: HEAD_BYTES - len(head)])
                yield piece

        self.blobs.write(keys.current, tenant, collection, blobs.original(file_id), observed())
        return hasher.hexdigest(), bytes(head)

    def _register(
        self,
        keys: TenantKeys,
        collection: str,
        file_id: str,
        name: str | None,
        size: int,
        digest: tuple[str, bytes],
        media_type: str | None = None,
        *,
        quota: int | None = None,
        upload_id: str | None = None,
        uploader: str | None = None,
    ) -> FileRow:
        """Add the file's row: charged to the quota (`quota`), or taking over `upload_id`'s
        reservation, in the row's own transaction. Anything failing drops the stored bytes."""
        now = utc_now()
        refusal = _name_refusal(name)
        row = FileRow(
            id=file_id,
            collection=collection,
            name=display_name(name),
            media_type=media_type or sniff(digest[1]).media_type,
            size=size,
            sha256=digest[0],
            key_version=keys.current.version,
            status=store.PENDING if refusal is None else store.FAILED,
            reason=refusal,
            preview_pages=0,
            created_at=now,
            updated_at=now,
            uploaded_by=uploader if upload_id is not None else _uploader(),
        )
        try:
            if refusal is None:
                self.processor.queue.add(file_id)
            for attempt in range(_CHARGE_ATTEMPTS):
                try:
                    with self.databases.session() as session:
                        if upload_id is not None:
                            if not store.delete_upload(session, upload_id):
                                raise not_found("the upload")
                        elif quota is not None:
                            self._charge(session, size, quota)
                        store.insert_file(session, row)
                    break
                except IntegrityError:
                    if attempt + 1 == _CHARGE_ATTEMPTS:
                        raise
        except BaseException:
            self.blobs.delete_tree(require_tenant().cloud_id, file_id)
            if refusal is None:
                self.processor.queue.remove(file_id)
            raise
        if refusal is None:
            self.processor.submit(row, keys)
        return row

    # -- chunked uploads -------------------------------------------------------------------

    def start_upload(
        self, collection: str, name: str | None, size: int, chunk_size: int | None
    ) -> UploadState:
        """Open an upload session for a file of `size` bytes; its size is reserved in the quota."""
        chunk = chunk_size or DEFAULT_CHUNK_BYTES
        if not MIN_CHUNK_BYTES <= chunk <= MAX_CHUNK_BYTES:
            raise ApiError(
                422,
                "invalid_chunk_size",
                f"chunk_size must be {MIN_CHUNK_BYTES}..{MAX_CHUNK_BYTES}",
            )
        _refuse_empty(size)
        limits = self._check_room(size)
        # The client's name as given (bounded): checked and sanitised when the file is made.
        raw_name = (name or "")[:NAME_LENGTH]
        row = UploadRow(uuid.uuid4().hex, collection, raw_name, size, chunk, utc_now(), _uploader())
        for attempt in range(_CHARGE_ATTEMPTS):
            try:
                with self.databases.session() as session:
                    self._charge(session, size, limits.quota_bytes)
                    store.insert_upload(session, row)
                break
            except IntegrityError:
                if attempt + 1 == _CHARGE_ATTEMPTS:
                    raise
        return UploadState(row, [])

    def upload_state(self, upload_id: str) -> UploadState:
        """An upload and the chunks it has; 404 when there is no such upload."""
        with self.databases.session() as session:
            upload = store.get_upload(session, upload_id)
            if upload is None:
                raise not_found("the upload")
            chunks = store.upload_chunks(session, upload_id)
        return UploadState(upload, [c.index for c in chunks])

    async def put_chunk(
        self, upload: UploadRow, index: int, sha256: str, pieces: list[bytes]
    ) -> UploadState:
        """Check one chunk's place, size and sha256, then seal and keep it; resending replaces.

        The chunk is the pieces it arrived in, never joined into one more copy.
        """
        if not 0 <= index < upload.chunk_count:
            raise ApiError(
                400, "bad_chunk_index", f"chunks are numbered 0..{upload.chunk_count - 1}"
            )
        size = sum(len(piece) for piece in pieces)
        if size != upload.chunk_length(index):
            raise ApiError(
                400, "bad_chunk_size", f"chunk {index} must be {upload.chunk_length(index)} bytes"
            )
        hasher = hashlib.sha256()
        for piece in pieces:
            hasher.update(piece)
        if hasher.hexdigest() != sha256.lower():
            raise ApiError(400, "sha256_mismatch", f"chunk {index} does not match its sha256")
        keys = await self.data_keys.for_tenant()
        tenant = require_tenant().cloud_id
        await asyncio.to_thread(
            self.blobs.write,
            keys.current,
            tenant,
            upload.collection,
            blobs.chunk(upload.id, index),
            pieces,
        )
        chunk = store.ChunkRow(index, size, sha256.lower(), keys.current.version)
        with self.databases.session() as session:
            if store.get_upload(session, upload.id) is None:
                raise not_found("the upload")
            store.put_chunk(session, upload.id, chunk)
        return self.upload_state(upload.id)

    async def complete_upload(self, upload: UploadRow, sha256: str | None) -> FileRow:
        """Assemble the chunks into the file (all must be there) and queue its previews."""
        with self.databases.session() as session:
            chunks = store.upload_chunks(session, upload.id)
        state = UploadState(upload, [c.index for c in chunks])
        missing = state.public()["missing"]
        if missing:
            raise ApiError(409, "upload_incomplete", f"chunks still missing: {missing}")
        versions = {c.key_version for c in chunks}
        keys = await self.keys_with(versions)
        tenant = require_tenant().cloud_id
        file_id = uuid.uuid4().hex

        def pieces() -> Iterator[bytes]:
            # Frame by frame: a chunk found changed at its end stops the write before the new
            # original is kept, so nothing of it is ever served.
            for c in chunks:
                name = blobs.chunk(upload.id, c.index)
                hasher = hashlib.sha256()
                for frame in self.blobs.read(keys, tenant, upload.collection, name):
                    hasher.update(frame)
                    yield frame
                if hasher.hexdigest() != c.sha256:
                    raise ApiError(500, "ciphertext_rejected", "a stored chunk changed")

        digest = await asyncio.to_thread(
            self._write_original, keys, tenant, upload.collection, file_id, pieces()
        )
        if sha256 is not None and digest[0] != sha256.lower():
            self.blobs.delete_tree(tenant, file_id)
            raise ApiError(400, "sha256_mismatch", "the assembled file does not match its sha256")
        row = self._register(
            keys,
            upload.collection,
            file_id,
            upload.name,
            upload.size,
            digest,
            upload_id=upload.id,
            uploader=upload.uploaded_by,
        )
        await asyncio.to_thread(self.retire_tree, f"uploads/{upload.id}")
        return row

    def cancel_upload(self, upload: UploadRow) -> None:
        """Drop an upload and its chunks; its quota reservation ends."""
        with self.databases.session() as session:
            if store.delete_upload(session, upload.id):
                store.release(session, upload.size)
        self.retire_tree(f"uploads/{upload.id}")

    def retire_tree(self, prefix: str) -> None:
        """A tree no row names any more: kept for the backup window, then removed."""
        if self._retire is None:
            self.blobs.delete_tree(require_tenant().cloud_id, prefix)
        else:
            self._retire(prefix)

    async def keys_with(self, versions: set[int]) -> TenantKeys:
        """The tenant's keys, fetching any of `versions` not held yet."""

        def check(keys: TenantKeys) -> TenantKeys:
            for version in versions:
                keys(version)
            return keys

        return await self.data_keys.run(check)

    # -- reading and deleting --------------------------------------------------------------

    def find(self, file_id: str, *, trashed_too: bool = False) -> FileRow | None:
        """A file of the current tenant (out of the trash, unless `trashed_too`), or None."""
        with self.databases.session() as session:
            return store.get_file(session, file_id, trashed_too=trashed_too)

    def file(self, file_id: str, *, trashed_too: bool = False) -> FileRow:
        """A file of the current tenant; 404 when there is none (or it is in the trash)."""
        row = self.find(file_id, trashed_too=trashed_too)
        if row is None:
            raise not_found("the file")
        return row

    def set_collection_trashed(
        self, collection: str, trashed: bool, keep: list[str] | None = None
    ) -> None:
        """Put a whole collection in the trash (its owner is in the trash), or take it out but
        for the files in `keep` (each in the trash on its own)."""
        with self.databases.session() as session:
            store.set_collection_trashed(session, collection, trashed, keep or ())

    def set_trashed(self, row: FileRow, trashed: bool) -> None:
        """Put a file in its owner's trash (unlisted, unserved, kept whole), or take it out."""
        with self.databases.session() as session:
            if not store.set_trashed(session, row.id, trashed):
                raise not_found("the file")

    def files(self, collection: str) -> list[FileRow]:
        """Every file of a collection."""
        with self.databases.session() as session:
            return store.list_files(session, collection)

    def upload_row(self, upload_id: str) -> UploadRow:
        """An upload of the current tenant; 404 when there is none."""
        return self.upload_state(upload_id).upload

    async def original(self, row: FileRow) -> Download:
        """The original's plaintext: whole (checked) when small, else its first frame checked
        and the rest as a stream whose every frame is checked before it is handed on."""
        keys = await self.keys_with({row.key_version})
        tenant = require_tenant().cloud_id
        name = blobs.original(row.id)
        try:
            if row.size <= WHOLE_READ_LIMIT:
                whole = await asyncio.to_thread(
                    self.blobs.read_all, keys, tenant, row.collection, name
                )
                return Download(whole, iter(()))
            frames = await asyncio.to_thread(self.blobs.read, keys, tenant, row.collection, name)
            first = await asyncio.to_thread(next, frames, b"")
            return Download(first, frames)
        except KeyError:
            raise ApiError(500, "blob_missing", "the file's stored bytes are missing") from None

    async def artifact(self, row: FileRow, name: str) -> bytes:
        """A preview page or the thumbnail, decrypted and checked."""
        if row.status != store.SUCCEEDED:
            raise ApiError(
                409, f"preview_{row.status}", f"previews are {row.status}: {row.reason or ''}"
            )
        keys = await self.keys_with({row.key_version})
        tenant = require_tenant().cloud_id
        try:
            return await asyncio.to_thread(self.blobs.read_all, keys, tenant, row.collection, name)
        except KeyError:
            raise not_found("the preview") from None

    def rename(self, row: FileRow, name: str) -> FileRow:
        """Give a file another display name."""
        with self.databases.session() as session:
            store.rename_file(session, row.id, name, utc_now())
        return self.file(row.id)

    async def delete(self, row: FileRow) -> None:
        """Delete a file: its row (its bytes leave the quota), then its original and artifacts."""
        with self.databases.session() as session:
            if store.delete_file(session, row.id):
                store.release(session, row.size)
        await asyncio.to_thread(self.retire_tree, row.id)

    async def delete_collection(self, collection: str) -> int:
        """Delete every file and upload of a collection (its owner is gone); how many files.

        The rows go in one transaction, which also takes their bytes off the quota; then the
        stored originals, artifacts and chunks.
        """
        with self.databases.session() as session:
            files = store.collection_files(session, collection)
            uploads = store.collection_uploads(session, collection)
            freed = 0
            for file_id, size in files:
                if store.delete_file(session, file_id):
                    freed += size
            for upload_id, size in uploads:
                if store.delete_upload(session, upload_id):
                    freed += size
            if freed:
                store.release(session, freed)

        def remove_blobs() -> None:
            for file_id, _ in files:
                self.retire_tree(file_id)
                self.processor.queue.remove(file_id)
            for upload_id, _ in uploads:
                self.retire_tree(f"uploads/{upload_id}")

        await asyncio.to_thread(remove_blobs)
        return len(files)


def _uploader() -> str | None:
    """The account this request acts for (None when a service acts for itself)."""
    user = current_user.get()
    return None if user is None else user.account_id


def _refuse_empty(size: int) -> None:
    """An empty file is refused before anything is stored (there is nothing to keep or show)."""
    if size == 0:
        raise ApiError(422, "empty_file", "the file is empty")


def _name_refusal(name: str | None) -> str | None:
    """`invalid_name` for a client file name that tries to be a path; None for a plain one."""
    if not name:
        return None
    try:
        check_file_name(name)
    except PreviewFailed as refused:
        return refused.reason
    return None
