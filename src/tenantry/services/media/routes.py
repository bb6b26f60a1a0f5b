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

from tenantry.platform.context import UserContext, current_tenant, current_user
from tenantry.platform.errors import ApiError
from tenantry.platform.media_tokens import MAX_LIFETIME, MediaGrant
from tenantry.services.media import blobs
from tenantry.services.media.bodies import read_raw, read_upload
from tenantry.services.media.downloads import FrameStreamResponse
from tenantry.services.media.limits import MAX_CHUNK_BYTES
from tenantry.services.media.models import NAME_LENGTH
from tenantry.services.media.names import display_name
from tenantry.services.media.scope import check_collection, check_id
from tenantry.services.media.service import Media
from tenantry.services.media.store import FileRow, Settings, UploadRow
from tenantry.services.media.tokens import (
    ACTIONS,
    DEFAULT_LIFETIME,
    SERVICE_ROLE,
    MediaTokens,
    require,
)

INTERNAL_PREFIX = "/media"
PUBLIC_PREFIX = "/rest/media"
MAX_STORED_INT = 2**63 - 1
"""The largest number a settings column holds (a 64-bit integer on SQLite and PostgreSQL)."""
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
_NO_SNIFF = {"x-content-type-options": "nosniff", "cache-control": "private, no-store"}


class TokenRequest(BaseModel):
    """What a service asks a media token for."""

    model_config = ConfigDict(extra="forbid")

    collection: Annotated[str, Field(max_length=128)]
    actions: Annotated[list[str], Field(min_length=1, max_length=len(ACTIONS))]
    lifetime: Annotated[int, Field(ge=1, le=MAX_LIFETIME)] = DEFAULT_LIFETIME


class NewUpload(BaseModel):
    """A chunked upload about to start."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=4096)] = ""
    size: Annotated[int, Field(ge=0)]
    chunk_size: Annotated[int | None, Field(ge=1)] = None


class Rename(BaseModel):
    """A file's new display name."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=4096)]


class SettingsIn(BaseModel):
    """A tenant's media settings; limits left out (null) fall back to the cloud's defaults."""

    model_config = ConfigDict(extra="forbid")

    view_only: bool = False
    max_file_bytes: Annotated[int | None, Field(ge=1, le=MAX_STORED_INT)] = None
    quota_bytes: Annotated[int | None, Field(ge=1, le=MAX_STORED_INT)] = None


def build_router(media: Media, tokens: MediaTokens) -> APIRouter:
    """Every media route: file routes under both prefixes, tokens, settings."""
    router = APIRouter()
    for prefix in (INTERNAL_PREFIX, PUBLIC_PREFIX):
        router.routes.extend(_file_routes(media, tokens, prefix).routes)
        router.routes.extend(_settings_routes(media, prefix).routes)
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
        user = current_user.get()
        token, expires = tokens.issue(
            tenant=tenant.cloud_id,
            site=tenant.site,
            collection=collection,
            actions=body.actions,
            role=user.role if user is not None else SERVICE_ROLE,
            lifetime=body.lifetime,
        )
        return {
            "token": token,
            "expires_at": expires,
            "collection": collection,
            "actions": sorted(set(body.actions)),
        }

    return router


def _settings_routes(media: Media, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix)

    def admin() -> UserContext:
        _tenant_id()
        user = current_user.get()
        if user is None:
            raise ApiError(401, "user_required", "media settings are changed by a signed-in user")
        if user.role != "admin":
            raise ApiError(403, "admin_required", "only a site admin may change media settings")
        return user

    @router.get("/settings")
    def get_settings() -> dict[str, object]:
        """The site's media settings and the limits in force."""
        _tenant_id()
        return _settings_document(media)

    @router.put("/settings")
    def put_settings(
        body: SettingsIn, _: Annotated[UserContext, Depends(admin)]
    ) -> dict[str, object]:
        """Replace the site's media settings (admins only)."""
        media.put_settings(Settings(body.view_only, body.max_file_bytes, body.quota_bytes))
        return _settings_document(media)

    return router


def _settings_document(media: Media) -> dict[str, object]:
    settings = media.settings()
    limits = media.limits()
    return {
        "view_only": settings.view_only,
        "max_file_bytes": limits.max_file_bytes,
        "quota_bytes": limits.quota_bytes,
    }


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

    def file_for(grant: MediaGrant, file_id: str, action: str) -> FileRow:
        row = media.file(check_id(file_id, "the file"))
        require(grant, tenant=grant.tenant, collection=row.collection, action=action)
        return row

    @router.post("/collections/{collection}/files", status_code=201, openapi_extra=_WHOLE_FILE_BODY)
    async def upload(
        collection: str,
        request: Request,
        grant: Grant,
        name: Annotated[str | None, Query(max_length=4096)] = None,
    ) -> dict[str, object]:
        """Upload a whole file (multipart field `file`, or a raw body with `?name=`)."""
        require(
            grant, tenant=grant.tenant, collection=check_collection(collection), action="insert"
        )
        limit = media.limits().max_file_bytes
        sent = await read_upload(request, limit, name)
        row = await media.upload(collection, sent.filename, sent.data)
        return row.public()

    @router.get("/collections/{collection}/files")
    def list_files(collection: str, grant: Grant) -> dict[str, object]:
        """Every file of the collection, with its processing status."""
        require(grant, tenant=grant.tenant, collection=check_collection(collection), action="read")
        return {"files": [row.public() for row in media.files(collection)]}

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
        require(grant, tenant=grant.tenant, collection=row.collection, action="insert")
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
        data = await read_raw(request, MAX_CHUNK_BYTES)
        state = await media.put_chunk(row, index, sha256, data)
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
        return created.public()

    @router.delete("/uploads/{upload_id}", status_code=204)
    def cancel_upload(upload_id: str, grant: Grant) -> Response:
        """Abandon an upload and its chunks."""
        media.cancel_upload(upload_for(grant, upload_id))
        return Response(status_code=204)

    @router.get("/files/{file_id}")
    def file_metadata(file_id: str, grant: Grant) -> dict[str, object]:
        """A file's metadata and processing status (with the reason when it failed)."""
        return file_for(grant, file_id, "read").public()

    @router.patch("/files/{file_id}")
    def rename(file_id: str, body: Rename, grant: Grant) -> dict[str, object]:
        """Change a file's display name."""
        row = file_for(grant, file_id, "update")
        return media.rename(row, display_name(body.name)[:NAME_LENGTH]).public()

    @router.get("/files/{file_id}/content")
    async def download(file_id: str, grant: Grant) -> Response:
        """The original bytes, as an attachment; refused for non-admins on view-only sites."""
        row = file_for(grant, file_id, "read")
        if grant.role != "admin" and media.settings().view_only:
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

    @router.delete("/files/{file_id}", status_code=204)
    async def delete_file(file_id: str, grant: Grant) -> Response:
        """Delete a file with its previews."""
        row = file_for(grant, file_id, "delete")
        await media.delete(row)
        return Response(status_code=204)

    return router
