"""media's export and erase steps for one account (see `platform.personal_data_steps`): the
files it uploaded, known by `uploaded_by`.

Export lists the files and uploads under way, and serves each file's original so the export
can carry it. Erase cancels the account's uploads under way whatever becomes of its content;
with `content: erase` its files go, row and blobs (original, previews, thumbnail) at once,
not after the backup window as an ordinary deletion's do; with `content: keep` the files stay,
no longer naming who uploaded them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select, update
from starlette.responses import Response

from tenantry.platform.context import require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.personal_data_steps import (
    EraseStep,
    ExportStep,
    action,
    erased,
    exported,
    mapped_columns,
    require_signed_tenant,
    stamp,
)
from tenantry.services.media import store
from tenantry.services.media.downloads import FrameStreamResponse
from tenantry.services.media.models import MediaFile, MediaUpload
from tenantry.services.media.scope import check_id
from tenantry.services.media.service import Media

PREFIX = "/internal/media/personal-data"
SERVICE = "media"


def build_privacy_router(media: Media) -> APIRouter:
    """The export and erase steps, bound to media's files and blobs."""
    router = APIRouter(prefix=PREFIX)

    @router.post("/export")
    def export_account(body: ExportStep) -> dict[str, Any]:
        """Every file and upload under way of the account."""
        require_signed_tenant()
        mine = MediaFile.uploaded_by == body.account_id
        with media.databases.session() as session:
            files = list(session.rows(select(*mapped_columns(MediaFile)).where(mine)))
            uploads = list(
                session.rows(
                    select(*mapped_columns(MediaUpload)).where(
                        MediaUpload.uploaded_by == body.account_id
                    )
                )
            )
        return exported(
            SERVICE,
            {
                "media_files": [
                    {
                        "id": row.id,
                        "collection": row.collection,
                        "name": row.name,
                        "media_type": row.media_type,
                        "size": row.size,
                        "sha256": row.sha256,
                        "created_at": stamp(row.created_at),
                        "trashed": bool(row.trashed),
                        "uploaded_by": row.uploaded_by,
                    }
                    for row in files
                ],
                "media_uploads": [
                    {
                        "id": row.id,
                        "collection": row.collection,
                        "name": row.name,
                        "size": row.size,
                        "created_at": stamp(row.created_at),
                        "uploaded_by": row.uploaded_by,
                    }
                    for row in uploads
                ],
            },
        )

    @router.get("/files/{file_id}/content")
    async def file_content(file_id: str, account_id: str) -> Response:
        """The original of one file the account uploaded, for its export (trashed too)."""
        require_signed_tenant()
        row = media.find(check_id(file_id, "the file"), trashed_too=True)
        if row is None or row.uploaded_by != account_id:
            raise ApiError(404, "not_found", "the account uploaded no such file")
        body = await media.original(row)
        return FrameStreamResponse(body.first, body.rest, row.size, row.media_type, {})

    @router.post("/erase")
    async def erase_account(body: EraseStep) -> dict[str, Any]:
        """Take the account's uploads, and with `content: erase` its files, out of media."""
        require_signed_tenant()
        tenant = require_tenant().cloud_id
        with media.databases.session() as session:
            uploads = [
                (str(row.id), int(row.size))
                for row in session.rows(
                    select(MediaUpload.id, MediaUpload.size).where(
                        MediaUpload.uploaded_by == body.account_id
                    )
                )
            ]
            files = [
                (str(row.id), int(row.size))
                for row in session.rows(
                    select(MediaFile.id, MediaFile.size).where(
                        MediaFile.uploaded_by == body.account_id
                    )
                )
            ]
            freed = sum(
                size for upload_id, size in uploads if store.delete_upload(session, upload_id)
            )
            if body.content == "erase":
                freed += sum(size for file_id, size in files if store.delete_file(session, file_id))
            else:
                session.rows(
                    update(MediaFile)
                    .where(MediaFile.uploaded_by == body.account_id)
                    .values(uploaded_by=None)
                )
            if freed:
                store.release(session, freed)

        def remove_blobs() -> None:
            for upload_id, _ in uploads:
                media.blobs.delete_tree(tenant, f"uploads/{upload_id}")
            if body.content == "erase":
                for file_id, _ in files:
                    media.processor.queue.remove(file_id)
                    media.blobs.delete_tree(tenant, file_id)

        await asyncio.to_thread(remove_blobs)
        kept = "deleted" if body.content == "erase" else "unattributed"
        return erased(
            SERVICE,
            [
                action("media_uploads", "deleted", len(uploads)),
                action("media_files", kept, len(files)),
            ],
        )

    return router
