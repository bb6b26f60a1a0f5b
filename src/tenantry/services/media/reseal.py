"""Re-encrypt a tenant's blobs under its current data key, a batch of files at a time.

After kms rotates a tenant's data key, the operator has media reseal the tenant's files (the
original, every preview page and the thumbnail) and the chunks of uploads under way. Each blob
is decrypted as a stream and encrypted again under the current key, and the store replaces it
all-or-nothing (a temporary file renamed over it, or one object PUT), so a reader sees the old
blob or the new one, never part of one; each blob names its own key version in its header, so
both open. Only once every blob of a file is rewritten does the file's row take the new version.

A crash part way leaves blobs under the new version and a row under the old one: the next run
sees the row, checks each blob's header and finishes the job. Files still being rendered are
left for a later pass (`deferred`): their renderer writes previews with the keys it started
with. The work goes on from a cursor (`files:<id>`, then `chunks:<upload id>/<index>`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy import bindparam, func, select, tuple_, update

from tenantry.platform.blobstore import BlobStore
from tenantry.platform.context import require_tenant
from tenantry.platform.crypto import HEADER_SIZE, CiphertextRejected, stream_key_version
from tenantry.platform.data_keys import KeyVersionNeeded, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.reseal import ResealRequest, require_signed_tenant
from tenantry.services.media import blobs, store
from tenantry.services.media.models import MediaFile, MediaUpload, MediaUploadChunk
from tenantry.services.media.service import Media

PATH = "/internal/media/reseal"
_PHASES = ("files", "chunks")

_FILE_COLUMNS = [getattr(MediaFile, name) for name in store.FileRow.__dataclass_fields__]
_FILE_VERSION = (
    update(MediaFile)
    .where(MediaFile.id == bindparam("file_id"), MediaFile.key_version == bindparam("old"))
    .values(key_version=bindparam("new"))
)
_CHUNK_VERSION = (
    update(MediaUploadChunk)
    .where(
        MediaUploadChunk.upload_id == bindparam("chunk_upload"),
        MediaUploadChunk.index == bindparam("chunk_index"),
        MediaUploadChunk.sha256 == bindparam("chunk_sha256"),
        MediaUploadChunk.key_version == bindparam("old"),
    )
    .values(key_version=bindparam("new"))
)


@dataclass(frozen=True, slots=True)
class _Chunk:
    upload_id: str
    collection: str
    index: int
    sha256: str
    key_version: int


class MediaReseal:
    """Resealing of the current tenant's blobs, one batch per call."""

    def __init__(self, media: Media) -> None:
        self._media = media

    async def batch(self, cursor: str | None, limit: int, min_version: int) -> dict[str, Any]:
        """Reseal up to `limit` files (or upload chunks) after `cursor`; what was done."""
        phase, after = _parse(cursor)
        keys = await self._media.data_keys.for_tenant(min_version)
        if phase == "files":
            files = self._files(after, limit)
            keys = await self._holding(keys, {row.key_version for row in files}, min_version)
            resealed, deferred = await self._reseal_files(keys, files)
            looked_at = len(files)
            next_cursor: str | None = f"files:{files[-1].id}" if len(files) == limit else "chunks:"
        else:
            chunks = self._chunks(after, limit)
            keys = await self._holding(keys, {c.key_version for c in chunks}, min_version)
            resealed, deferred = await self._reseal_chunks(keys, chunks)
            looked_at = len(chunks)
            last = chunks[-1] if chunks else None
            next_cursor = (
                f"chunks:{last.upload_id}/{last.index}"
                if last is not None and len(chunks) == limit
                else None
            )
        return {
            "looked_at": looked_at,
            "resealed": resealed,
            "deferred": deferred,
            "remaining": self._remaining(next_cursor),
            "current_version": keys.current.version,
            "next_cursor": next_cursor,
        }

    # -- files -----------------------------------------------------------------------------

    def _files(self, after: str, limit: int) -> list[store.FileRow]:
        query = select(*_FILE_COLUMNS).order_by(MediaFile.id).limit(limit)
        if after:
            query = query.where(MediaFile.id > after)
        with self._media.databases.session() as session:
            return [store.FileRow(**row._mapping) for row in session.rows(query)]

    async def _reseal_files(self, keys: TenantKeys, files: list[store.FileRow]) -> tuple[int, int]:
        tenant = require_tenant().cloud_id
        current = keys.current.version
        resealed = deferred = 0
        for row in files:
            if row.key_version == current:
                continue
            if row.status == store.PENDING:
                deferred += 1  # its renderer still writes with the keys it started with
                continue
            try:
                await asyncio.to_thread(self._rewrite_file, keys, tenant, row)
            except KeyVersionNeeded:
                deferred += 1  # a blob names a version fetched by no one yet: next pass
                continue
            except KeyError:
                if self._file_gone(row.id):
                    continue  # deleted meanwhile
                raise ApiError(500, "blob_missing", "a file's stored bytes are missing") from None
            with self._media.databases.session() as session:
                swapped = session.rows(
                    _FILE_VERSION, {"file_id": row.id, "old": row.key_version, "new": current}
                ).rowcount
            if swapped:
                resealed += 1
            elif self._file_gone(row.id):
                # Deleted meanwhile: what this rewrote must not outlive it.
                await asyncio.to_thread(self._media.blobs.delete_tree, tenant, row.id)
        return resealed, deferred

    def _rewrite_file(self, keys: TenantKeys, tenant: str, row: store.FileRow) -> None:
        names = [blobs.original(row.id)]
        if row.status == store.SUCCEEDED:
            pages = range(1, row.preview_pages + 1)
            names += [blobs.preview(row.id, page) for page in pages] + [blobs.thumbnail(row.id)]
        for name in names:
            self._rewrite(keys, tenant, row.collection, name)

    def _file_gone(self, file_id: str) -> bool:
        with self._media.databases.session() as session:
            return store.get_file(session, file_id, trashed_too=True) is None

    # -- upload chunks ---------------------------------------------------------------------

    def _chunks(self, after: str, limit: int) -> list[_Chunk]:
        query = (
            select(
                MediaUploadChunk.upload_id,
                MediaUpload.collection,
                MediaUploadChunk.index,
                MediaUploadChunk.sha256,
                MediaUploadChunk.key_version,
            )
            .join(
                MediaUpload,
                (MediaUpload.tenant_id == MediaUploadChunk.tenant_id)
                & (MediaUpload.id == MediaUploadChunk.upload_id),
            )
            .order_by(MediaUploadChunk.upload_id, MediaUploadChunk.index)
            .limit(limit)
        )
        if after:
            upload_id, index = _chunk_position(after)
            query = query.where(
                tuple_(MediaUploadChunk.upload_id, MediaUploadChunk.index) > (upload_id, index)
            )
        with self._media.databases.session() as session:
            return [_Chunk(**row._mapping) for row in session.rows(query)]

    async def _reseal_chunks(self, keys: TenantKeys, chunks: list[_Chunk]) -> tuple[int, int]:
        tenant = require_tenant().cloud_id
        current = keys.current.version
        resealed = deferred = 0
        for chunk in chunks:
            if chunk.key_version == current:
                continue
            name = blobs.chunk(chunk.upload_id, chunk.index)
            try:
                await asyncio.to_thread(
                    self._rewrite, keys, tenant, chunk.collection, name, chunk.sha256
                )
            except KeyVersionNeeded:
                deferred += 1
                continue
            except KeyError:
                continue  # the upload finished or was cancelled meanwhile
            values = {
                "chunk_upload": chunk.upload_id,
                "chunk_index": chunk.index,
                "chunk_sha256": chunk.sha256,
                "old": chunk.key_version,
                "new": current,
            }
            with self._media.databases.session() as session:
                swapped = session.rows(_CHUNK_VERSION, values).rowcount
                upload_gone = store.get_upload(session, chunk.upload_id) is None
            resealed += swapped
            if upload_gone:
                prefix = f"uploads/{chunk.upload_id}"
                await asyncio.to_thread(self._media.blobs.delete_tree, tenant, prefix)
        return resealed, deferred

    # -- blobs -----------------------------------------------------------------------------

    def _rewrite(
        self,
        keys: TenantKeys,
        tenant: str,
        collection: str,
        name: str,
        sha256: str | None = None,
    ) -> None:
        """Rewrite one blob under the current key unless its header names that key already.

        The new blob replaces the old one all-or-nothing: a blob that fails to open, or whose
        plaintext is not the one `sha256` names, raises before anything is replaced.
        """
        encrypted = self._media.blobs
        version = _stored_version(encrypted.store, f"{tenant}/{name}")
        if version is None or version == keys.current.version:
            return
        keys(version)  # KeyVersionNeeded now, rather than part way through the stream
        frames = encrypted.read(keys, tenant, collection, name)
        if sha256 is not None:
            frames = _checked(frames, sha256)
        encrypted.write(keys.current, tenant, collection, name, frames)

    async def _holding(self, keys: TenantKeys, versions: set[int], minimum: int) -> TenantKeys:
        """The tenant's keys with every one of `versions` fetched (older ones included)."""
        if all(version in keys.held for version in versions):
            return keys

        def check(held: TenantKeys) -> TenantKeys:
            for version in versions:
                held(version)
            return held

        return await self._media.data_keys.run(check, minimum)

    def _remaining(self, cursor: str | None) -> int:
        """Files and chunks after `cursor`."""
        if cursor is None:
            return 0
        phase, after = _parse(cursor)
        chunks = select(func.count()).select_from(MediaUploadChunk)
        files = select(func.count()).select_from(MediaFile)
        with self._media.databases.session() as session:
            if phase == "chunks":
                if after:
                    position = _chunk_position(after)
                    chunks = chunks.where(
                        tuple_(MediaUploadChunk.upload_id, MediaUploadChunk.index) > position
                    )
                return int(session.rows(chunks).scalar_one())
            if after:
                files = files.where(MediaFile.id > after)
            return int(session.rows(files).scalar_one()) + int(session.rows(chunks).scalar_one())


def build_reseal_router(media: Media) -> APIRouter:
    """The operator's reseal route, called with the tenant's signed context."""
    router = APIRouter(include_in_schema=False)
    reseal = MediaReseal(media)

    @router.post(PATH)
    async def reseal_blobs(body: ResealRequest) -> dict[str, Any]:
        require_signed_tenant()
        return await reseal.batch(body.cursor, body.limit, body.min_version)

    return router


def _stored_version(blob_store: BlobStore, key: str) -> int | None:
    """The key version a stored blob's header names; None when there is no such blob."""
    try:
        pieces = blob_store.open(key)
    except KeyError:
        return None
    head = b""
    try:
        for piece in pieces:
            head += piece
            if len(head) >= HEADER_SIZE:
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    if len(head) < HEADER_SIZE:
        raise ApiError(500, "ciphertext_rejected", "a stored blob is shorter than its header")
    try:
        return stream_key_version(head)
    except CiphertextRejected:
        raise ApiError(500, "ciphertext_rejected", "a stored blob has no valid header") from None


def _checked(frames: Iterator[bytes], sha256: str) -> Iterator[bytes]:
    """Pass `frames` on; raise at the end unless their bytes hash to `sha256`."""
    hasher = hashlib.sha256()
    for frame in frames:
        hasher.update(frame)
        yield frame
    if hasher.hexdigest() != sha256:
        raise ApiError(500, "ciphertext_rejected", "a stored upload chunk changed")


def _parse(cursor: str | None) -> tuple[str, str]:
    if cursor is None:
        return "files", ""
    phase, _, after = cursor.partition(":")
    if phase not in _PHASES or (phase == "chunks" and after and "/" not in after):
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API handed out")
    return phase, after


def _chunk_position(after: str) -> tuple[str, int]:
    upload_id, _, index = after.partition("/")
    if not index.isdigit() or len(index) > 9:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API handed out")
    return upload_id, int(index)
