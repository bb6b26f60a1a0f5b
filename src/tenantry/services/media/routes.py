"""The media HTTP API: the same file routes under `/media` (services call them directly) and
under `/rest/media` (browsers, through the edge), plus token issuing and settings.

Every file route needs a media token (`?token=` or the `X-Tenantry-Media-Token` header) for
this tenant, the collection concerned and the action the route performs; anything else is a
403 with the reason. The token is checked before any file is looked up.

(No `from __future__ import annotations` here: the routes' dependencies are local to the
builders, and FastAPI resolves annotations where they are written.)
"""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tenantry.platform.context import current_tenant, current_user
from tenantry.platform.errors import ApiError, not_found
from tenantry.platform.media_tokens import MAX_LIFETIME, MediaGrant
from tenantry.platform.text import OneLineText
from tenantry.platform.users import ADMIN, has_role
from tenantry.services.media import blobs
from tenantry.services.media.bodies import read_pieces, read_upload
from tenantry.services.media.downloads import FrameStreamResponse
from tenantry.services.media.limits import MAX_CHUNK_BYTES
from tenantry.services.media.models import NAME_LENGTH
from tenantry.services.media.names import display_name
from tenantry.services.media.scope import check_collection, check_id
from tenantry.services.media.service import Media
from tenantry.services.media.settings_routes import build_settings_router
from tenantry.services.media.store import FileRow, UploadRow
from tenantry.services.media.tokens import (
    ACTIONS,
    DEFAULT_LIFETIME,
    SERVICE_ROLE,
    MediaTokens,
    require,
)

INTERNAL_PREFIX = "/internal/media"
PUBLIC_PREFIX = "/rest/media"
# Bodies these routes read themselves, so FastAPI cannot describe them from a signature.
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_WHOLE_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/octet-stream": _BINARY,
        },
    }
}
_CHUNK_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}}
TOKEN_HEADER = "x-tenantry-media-token"  # noqa: S105 - a header name, not a secret
_SHA256 = r"^[0-9a-fA-F]{64}$"
_ID = r"^[0-9a-f]{32}$"
_NO_SNIFF = {"x-content-type-options": "nosniff", "cache-control": "private, no-store"}


class TokenRequest(BaseModel):
    """What a service asks a media token for."""

    model_config = ConfigDict(extra="forbid", strict=True)

    collection: Annotated[str, Field(max_length=128)]
    actions: Annotated[list[str], Field(min_length=1, max_length=len(ACTIONS))]
    lifetime: Annotated[int, Field(ge=1, le=MAX_LIFETIME)] = DEFAULT_LIFETIME
    upload: Annotated[str | None, Field(pattern=_ID)] = None
    """Scope the token to this chunked upload of the collection (it must be under way)."""


class NewUpload(BaseModel):
    """A chunked upload about to start."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[OneLineText, Field(max_length=4096)] = ""
    size: Annotated[int, Field(ge=0)]
    chunk_size: Annotated[int | None, Field(ge=1)] = None


class KeptInTrash(BaseModel):
    """Files of a collection to leave in the trash when the collection comes out of it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    keep: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=10_000)] = []


class Rename(BaseModel):
    """A file's new display name."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[OneLineText, Field(min_length=1, max_length=4096)]


def build_router(media: Media, tokens: MediaTokens) -> APIRouter:
    """Every media route: file routes under both prefixes, tokens, settings."""
    router = APIRouter()
    for prefix in (INTERNAL_PREFIX, PUBLIC_PREFIX):
        router.routes.extend(_file_routes(media, tokens, prefix).routes)
        router.routes.extend(build_settings_router(media, prefix).routes)
    router.routes.extend(_token_routes(media, tokens, INTERNAL_PREFIX).routes)
    return router


def _tenant_id() -> str:
    tenant = current_tenant.get()
    if tenant is None:
        raise ApiError(400, "tenant_required", "media routes act within a tenant")
    return tenant.cloud_id


def _token_routes(media: Media, tokens: MediaTokens, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix)

    @router.post("/tokens", status_code=201)
    async def issue_token(body: TokenRequest) -> dict[str, object]:
        """A media token for the calling service to hand to its user (or use itself)."""
        tenant = current_tenant.get()
        if tenant is None:
            raise ApiError(400, "tenant_required", "media tokens are issued within a tenant")
        collection = check_collection(body.collection)
        if body.upload is not None and media.upload_row(body.upload).collection != collection:
            raise not_found("the upload")
        user = current_user.get()
        token, expires = tokens.issue(
            tenant=tenant.cloud_id,
            site=tenant.site,
            collection=collection,
            actions=body.actions,
            role=user.role if user is not None else SERVICE_ROLE,
            account=user.account_id if user is not None else None,
            lifetime=body.lifetime,
            upload=body.upload,
        )
        return {
            "token": token,
            "expires_at": expires,
            "collection": collection,
            "actions": sorted(set(body.actions)),
            "upload": body.upload,
        }

    return router


def _may_download_originals(grant: MediaGrant) -> bool:
    """Whether a view-only site lets this grant have originals: its account is an admin *now*.

    A grant issued for an account counts only with that account's current role, which the
    request carries (the edge and issues forward it); a grant a service asked for on its own
    counts with its own role.
    """
    if grant.account is None:
        return grant.role == ADMIN
    user = current_user.get()
    return user is not None and user.account_id == grant.account and has_role(user, ADMIN)


def _file_routes(media: Media, tokens: MediaTokens, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix)

    def grant(
        request: Request, token: Annotated[str | None, Query(max_length=4096)] = None
    ) -> MediaGrant:
        checked = tokens.verify(token or request.headers.get(TOKEN_HEADER))
        if checked.tenant != _tenant_id():
            raise ApiError(403, "media_token_wrong_tenant", "the media token is for another tenant")
        return checked

    Grant = Annotated[MediaGrant, Depends(grant)]

    def sees_originals(grant: MediaGrant) -> bool:
        """Whether the token's holder may have originals: their bytes, or their sha256 (which
        would confirm a guess of what a file holds). Not so for non-admins on view-only sites."""
        return not media.settings().view_only or _may_download_originals(grant)

    def shown(row: FileRow, grant: MediaGrant) -> dict[str, object]:
        """A file as the token's holder may see it."""
        document = row.public()
        if not sees_originals(grant):
            del document["sha256"]
        return document

    def file_for(
        grant: MediaGrant, file_id: str, action: str, *, trashed_too: bool = False
    ) -> FileRow:
        row = media.file(check_id(file_id, "the file"), trashed_too=trashed_too)
        require(grant, tenant=grant.tenant, collection=row.collection, action=action)
        return row

    @router.post("/collections/{collection}/files", status_code=201, openapi_extra=_WHOLE_FILE_BODY)
    async def upload(
        collection: str,
        request: Request,
        grant: Grant,
        name: Annotated[OneLineText | None, Query(max_length=4096)] = None,
    ) -> dict[str, object]:
        """Upload a whole file (multipart field `file`, or a raw body with `?name=`)."""
        require(
            grant, tenant=grant.tenant, collection=check_collection(collection), action="insert"
        )
        limit = media.limits().max_file_bytes
        sent = await read_upload(request, limit, name)
        row = await media.upload(collection, sent.filename, sent.data)
        return shown(row, grant)

    @router.get("/collections/{collection}/files")
    def list_files(collection: str, grant: Grant) -> dict[str, object]:
        """Every file of the collection, with its processing status."""
        require(grant, tenant=grant.tenant, collection=check_collection(collection), action="read")
        return {"files": [shown(row, grant) for row in media.files(collection)]}

    @router.post("/collections/{collection}/uploads", status_code=201)
    def start_upload(collection: str, body: NewUpload, grant: Grant) -> dict[str, object]:
        """Open a chunked upload; the answer says the chunk size and which chunks to send."""
        require(
            grant, tenant=grant.tenant, collection=check_collection(collection), action="insert"
        )
        state = media.start_upload(collection, body.name, body.size, body.chunk_size)
        return state.public()

    def upload_for(grant: MediaGrant, upload_id: str) -> UploadRow:
        row = media.upload_row(check_id(upload_id, "the upload"))
        require(
            grant, tenant=grant.tenant, collection=row.collection, action="insert", upload=row.id
        )
        return row

    @router.get("/uploads/{upload_id}")
    def upload_state(upload_id: str, grant: Grant) -> dict[str, object]:
        """Which chunks have arrived and which are missing (to resume)."""
        upload_for(grant, upload_id)
        return media.upload_state(upload_id).public()

    @router.put("/uploads/{upload_id}/chunks/{index}", openapi_extra=_CHUNK_BODY)
    async def put_chunk(
        upload_id: str,
        index: int,
        request: Request,
        grant: Grant,
        sha256: Annotated[str, Query(pattern=_SHA256)],
    ) -> dict[str, object]:
        """Send chunk `index` (raw body) with its sha256 (hex); resending replaces it."""
        row = upload_for(grant, upload_id)
        pieces = await read_pieces(request, MAX_CHUNK_BYTES)
        state = await media.put_chunk(row, index, sha256, pieces)
        return state.public()

    @router.post("/uploads/{upload_id}/complete", status_code=201)
    async def complete_upload(
        upload_id: str,
        grant: Grant,
        sha256: Annotated[str | None, Query(pattern=_SHA256)] = None,
    ) -> dict[str, object]:
        """Assemble the file once every chunk is in (optionally checking the whole sha256)."""
        row = upload_for(grant, upload_id)
        created = await media.complete_upload(row, sha256)
        return shown(created, grant)

    @router.delete("/uploads/{upload_id}", status_code=204)
    def cancel_upload(upload_id: str, grant: Grant) -> Response:
        """Abandon an upload and its chunks."""
        media.cancel_upload(upload_for(grant, upload_id))
        return Response(status_code=204)

    @router.get("/files/{file_id}")
    def file_metadata(file_id: str, grant: Grant) -> dict[str, object]:
        """A file's metadata and processing status (with the reason when it failed)."""
        return shown(file_for(grant, file_id, "read"), grant)

    @router.patch("/files/{file_id}")
    def rename(file_id: str, body: Rename, grant: Grant) -> dict[str, object]:
        """Change a file's display name."""
        row = file_for(grant, file_id, "update")
        return shown(media.rename(row, display_name(body.name)[:NAME_LENGTH]), grant)

    @router.get("/files/{file_id}/content")
    async def download(file_id: str, grant: Grant) -> Response:
        """The original bytes, as an attachment; refused for non-admins on view-only sites."""
        row = file_for(grant, file_id, "read")
        if not sees_originals(grant):
            raise ApiError(403, "view_only", "this site's attachments can be previewed only")
        body = await media.original(row)
        headers = {
            **_NO_SNIFF,
            "content-disposition": f"attachment; filename*=UTF-8''{quote(row.name, safe='')}",
            "content-security-policy": "sandbox; default-src 'none'",
        }
        return FrameStreamResponse(body.first, body.rest, row.size, row.media_type, headers)

    @router.get("/files/{file_id}/preview/{page}")
    async def preview(file_id: str, page: int, grant: Grant) -> Response:
        """Preview page `page` (from 1) as PNG."""
        row = file_for(grant, file_id, "read")
        if row.status == "succeeded" and not 1 <= page <= row.preview_pages:
            raise ApiError(404, "not_found", f"the file has preview pages 1..{row.preview_pages}")
        png = await media.artifact(row, blobs.preview(row.id, page))
        return Response(png, media_type="image/png", headers=_NO_SNIFF)

    @router.get("/files/{file_id}/thumbnail")
    async def thumbnail(file_id: str, grant: Grant) -> Response:
        """The file's thumbnail as PNG."""
        row = file_for(grant, file_id, "read")
        png = await media.artifact(row, blobs.thumbnail(row.id))
        return Response(png, media_type="image/png", headers=_NO_SNIFF)

    if prefix == INTERNAL_PREFIX:

        @router.delete("/collections/{collection}", status_code=204)
        async def delete_collection(collection: str, grant: Grant) -> Response:
            """Delete every file of a collection whose owner is gone (services only)."""
            require(
                grant, tenant=grant.tenant, collection=check_collection(collection), action="delete"
            )
            await media.delete_collection(collection)
            return Response(status_code=204)

        @router.post("/collections/{collection}/trash", status_code=204)
        def trash_collection(collection: str, grant: Grant) -> Response:
            """Put every file of a collection in the trash (its owner went to the trash)."""
            require(
                grant, tenant=grant.tenant, collection=check_collection(collection), action="delete"
            )
            media.set_collection_trashed(collection, True)
            return Response(status_code=204)

        @router.post("/collections/{collection}/restore", status_code=204)
        def restore_collection(
            collection: str, grant: Grant, body: KeptInTrash | None = None
        ) -> Response:
            """Take a collection's files out of the trash, but those `keep` names."""
            require(
                grant, tenant=grant.tenant, collection=check_collection(collection), action="delete"
            )
            keep = [check_id(file_id, "the file") for file_id in (body.keep if body else [])]
            media.set_collection_trashed(collection, False, keep)
            return Response(status_code=204)

        @router.post("/files/{file_id}/trash", status_code=204)
        def trash_file(file_id: str, grant: Grant) -> Response:
            """Put a file in its owner's trash: no longer listed or served, but kept whole."""
            media.set_trashed(file_for(grant, file_id, "delete"), True)
            return Response(status_code=204)

        @router.post("/files/{file_id}/restore", status_code=204)
        def restore_file(file_id: str, grant: Grant) -> Response:
            """Take a file out of its owner's trash, as it was."""
            media.set_trashed(file_for(grant, file_id, "delete", trashed_too=True), False)
            return Response(status_code=204)

    @router.delete("/files/{file_id}", status_code=204)
    async def delete_file(file_id: str, grant: Grant) -> Response:
        """Delete a file with its previews."""
        row = file_for(grant, file_id, "delete", trashed_too=True)
        await media.delete(row)
        return Response(status_code=204)

    return router
