"""Attachments on issues: files kept by media, in one collection per issue (`issues:<KEY>`).

A small file comes in one multipart body, passed to media as it came (media parses it with its
own bounded, memory-only parser), so the issues service never parses a file, never spools one
to disk, and holds at most MAX_UPLOAD_BODY_BYTES of it. A large one (up to the site's file size
limit) comes in chunks: issues opens the upload in media and hands the client a media token
that serves that upload alone; the client sends each chunk with its sha256 to media through the
edge, and asks issues to complete the upload, which makes the attachment. Either way no process
holds more than one chunk or one small file. Listings hand out links that carry a short-lived
read token and go through the edge, so a browser loads them as plain `<img src>` or download
links.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from python_multipart.multipart import parse_options_header
from starlette.responses import Response

from tenantry.platform.context import UserContext
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.platform.users import Member, SignedIn
from tenantry.services.issues import store, trash
from tenantry.services.issues.attachment_schemas import (
    AttachmentList,
    AttachmentOut,
    AttachmentUpload,
    ListedAttachment,
    NewAttachmentUpload,
)
from tenantry.services.issues.identifiers import IssueRef, parse_issue_ref
from tenantry.services.issues.media_files import (
    CHUNK_TOKEN_LIFETIME,
    LINK_LIFETIME,
    UPLOAD_LIFETIME,
    MediaFiles,
    MediaToken,
    collection_of,
)
from tenantry.services.issues.records import StoredIssue
from tenantry.services.issues.routes import PREFIX, Trashing

MAX_UPLOAD_BODY_BYTES = 16 * 1024 * 1024
"""The largest multipart body accepted (the edge forwards no more); media applies the site's
own file size limit on top."""
MEDIA_LINKS = "/rest/media/files"
MEDIA_UPLOADS = "/rest/media/uploads"
_MEDIA_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = r"^[0-9a-fA-F]{64}$"
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
    databases: Databases, data_keys: DataKeys, media: MediaFiles, trashing: Trashing
) -> APIRouter:
    """The attachment routes of issues, keeping the files in media through `media`; deleted
    attachments go to the trash through `trashing`."""
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

    @router.delete(
        "/issues/{key}/attachments/{attachment_id}", status_code=204, response_class=Response
    )
    async def delete_attachment(key: str, attachment_id: str, user: Member) -> Response:
        """Move one attachment of the issue to the trash: no longer listed or served."""
        ref = parse_issue_ref(key)
        issue = await data_keys.run(lambda keys: _find(databases, keys, ref))
        collection = collection_of(issue.key)
        file_id = _media_id(attachment_id, "attachment_not_found")
        token = await media.token(collection, ["read", "delete"], user, UPLOAD_LIFETIME)
        named = {str(file["id"]): str(file["name"]) for file in await media.files(token, user)}
        if file_id not in named:
            raise ApiError(404, "attachment_not_found", "this issue has no such attachment")

        def put(keys: TenantKeys) -> str:
            now = trashing.now()
            with databases.session() as session:
                return trash.put(
                    session,
                    keys,
                    trash.ATTACHMENT,
                    (issue.id, issue.key),
                    (file_id, named[file_id]),
                    (now, user.account_id),
                )

        trashing.prepare()
        trash_id = await data_keys.run(put)
        try:
            await media.trash_file(token, file_id, user)
        except BaseException:
            with databases.session() as session:  # media still serves it: not in the trash
                trash.remove(session, trash_id)
            raise
        return Response(status_code=204)

    @router.post("/issues/{key}/attachments/uploads", status_code=201)
    async def start_upload(key: str, body: NewAttachmentUpload, user: Member) -> AttachmentUpload:
        """Open a chunked upload of an attachment; its size is reserved in the site's quota."""
        issue = await issue_key(key)
        collection = collection_of(issue)
        opener = await media.token(collection, ["insert"], user, UPLOAD_LIFETIME)
        state = await media.start_upload(opener, body.name, body.size, body.chunk_size, user)
        return await upload_answer(issue, str(state["id"]), state, user)

    @router.get("/issues/{key}/attachments/uploads/{upload_id}")
    async def upload_state(key: str, upload_id: str, user: Member) -> AttachmentUpload:
        """Which chunks of the upload have arrived and which are missing, with a fresh token."""
        issue = await issue_key(key)
        upload = _media_id(upload_id, "upload_not_found")
        return await upload_answer(issue, upload, None, user)

    @router.post("/issues/{key}/attachments/uploads/{upload_id}/complete", status_code=201)
    async def complete_upload(
        key: str,
        upload_id: str,
        user: Member,
        sha256: Annotated[str | None, Query(pattern=_SHA256)] = None,
    ) -> AttachmentOut:
        """Make the attachment from an upload whose chunks have all arrived (409 otherwise);
        with `sha256`, the whole file must match it."""
        collection = collection_of(await issue_key(key))
        upload = _media_id(upload_id, "upload_not_found")
        token = await media.token(collection, ["insert"], user, UPLOAD_LIFETIME, upload=upload)
        return AttachmentOut.of(await media.complete_upload(token, upload, sha256, user))

    async def upload_answer(
        issue: str, upload: str, state: dict[str, Any] | None, user: UserContext
    ) -> AttachmentUpload:
        """An upload's state with a token serving it alone, and where to send what."""
        collection = collection_of(issue)
        token = await media.token(collection, ["insert"], user, CHUNK_TOKEN_LIFETIME, upload=upload)
        if state is None:
            state = await media.upload_state(token, upload, user)
        base = f"{MEDIA_UPLOADS}/{upload}"
        complete = f"{PREFIX}/issues/{quote(issue, safe='')}/attachments/uploads/{upload}/complete"
        chunk = f"{base}/chunks/{{index}}?token={quote(token.token, safe='')}"
        return AttachmentUpload.of(state, token.token, token.expires_at, (chunk, complete))

    return router


def _find(databases: Databases, keys: TenantKeys, ref: IssueRef) -> StoredIssue:
    with databases.session() as session:
        return store.find_issue(session, keys, ref)


def _media_id(value: str, missing: str) -> str:
    """A media file or upload id from a path (32 hex digits); 404 `missing` for anything else."""
    if not _MEDIA_ID.fullmatch(value):
        raise ApiError(404, missing, "this issue has no such " + missing.removesuffix("_not_found"))
    return value


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
