"""Attachments on issues: files kept by media, in one collection per issue (`issues:<KEY>`).

The upload's multipart body is passed to media as it came (media parses it with its own bounded,
memory-only parser), so the issues service never parses a file, never spools one to disk, and
holds at most MAX_UPLOAD_BODY_BYTES of it. Listings hand out links that carry a short-lived read
token and go through the edge, so a browser loads them as plain `<img src>` or download links.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from python_multipart.multipart import parse_options_header

from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.platform.users import Member, SignedIn
from tenantry.services.issues import store
from tenantry.services.issues.attachment_schemas import (
    AttachmentList,
    AttachmentOut,
    ListedAttachment,
)
from tenantry.services.issues.keys import parse_issue_ref
from tenantry.services.issues.media_files import (
    LINK_LIFETIME,
    UPLOAD_LIFETIME,
    MediaFiles,
    MediaToken,
    collection_of,
)
from tenantry.services.issues.routes import PREFIX

MAX_UPLOAD_BODY_BYTES = 16 * 1024 * 1024
"""The largest multipart body accepted (the edge forwards no more); media applies the site's
own file size limit on top."""
MEDIA_LINKS = "/rest/media/files"
_MULTIPART = "multipart/form-data"
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            _MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def build_attachments_router(
    databases: Databases, data_keys: DataKeys, media: MediaFiles
) -> APIRouter:
    """The attachment routes of issues, keeping the files in media through `media`."""
    router = APIRouter(prefix=PREFIX, tags=["attachments"])

    async def issue_key(ref_text: str) -> str:
        """The key of the issue a path names, or 404 `issue_not_found` (other tenants' too)."""
        ref = parse_issue_ref(ref_text)

        def find(keys: TenantKeys) -> str:
            with databases.session() as session:
                return store.find_issue(session, keys, ref).key

        return await data_keys.run(find)

    @router.post("/issues/{key}/attachments", status_code=201, openapi_extra=_UPLOAD_BODY)
    async def attach(key: str, request: Request, user: Member) -> AttachmentOut:
        """Attach a file (multipart field `file`); media sniffs it and renders its previews."""
        collection = collection_of(await issue_key(key))
        content_type = request.headers.get("content-type", "")
        kind, options = parse_options_header(content_type)
        if kind != _MULTIPART.encode() or not options.get(b"boundary"):
            raise ApiError(
                415, "unsupported_media_type", "send the file as multipart/form-data, field `file`"
            )
        body = await _bounded_body(request)
        token = await media.token(collection, ["insert"], user, UPLOAD_LIFETIME)
        created = await media.upload(token, body, content_type, user)
        return AttachmentOut.of(created)

    @router.get("/issues/{key}/attachments")
    async def list_attachments(key: str, user: SignedIn) -> AttachmentList:
        """The issue's attachments, each with preview and download links for this user."""
        collection = collection_of(await issue_key(key))
        token = await media.token(collection, ["read"], user, LINK_LIFETIME)
        files = await media.files(token, user)
        return AttachmentList(attachments=[_listed(file, token) for file in files])

    return router


async def _bounded_body(request: Request) -> bytes:
    """The request body, refused (413 `body_too_large`) once it passes the upload limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BODY_BYTES:
        raise _too_large()
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_UPLOAD_BODY_BYTES:
            raise _too_large()
    return bytes(received)


def _too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"the body is over {MAX_UPLOAD_BODY_BYTES} bytes")


def _listed(file: dict[str, Any], token: MediaToken) -> ListedAttachment:
    """A media file as a listed attachment, with links carrying `token`."""
    base = f"{MEDIA_LINKS}/{quote(str(file['id']), safe='')}"
    query = f"?token={quote(token.token, safe='')}"
    return ListedAttachment.listed(
        file,
        preview_url=f"{base}/preview/{{page}}{query}",
        download_url=f"{base}/content{query}",
    )
