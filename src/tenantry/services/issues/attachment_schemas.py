"""What the attachment routes answer: media's record of a file, cut to the public contract."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tenantry.platform.errors import ApiError
from tenantry.platform.text import OneLineText

FileName = Annotated[OneLineText, StringConstraints(min_length=1, max_length=255)]


class AttachmentOut(BaseModel):
    """Answer of `POST /issues/{key}/attachments`: the new file, processing `pending`."""

    id: str
    name: str
    media_type: str
    size: int
    status: str

    @classmethod
    def of(cls, file: dict[str, Any]) -> AttachmentOut:
        """Read media's description of a file (502 `media_error` if it lacks a field)."""
        try:
            return cls(
                id=str(file["id"]),
                name=str(file["name"]),
                media_type=str(file["media_type"]),
                size=int(file["size"]),
                status=str(file["status"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(502, "media_error", "media described a file incompletely") from exc


class ListedAttachment(AttachmentOut):
    """One attachment in a listing: its previews and links (carrying a short-lived token).

    `preview_url` is a template: `{page}` is replaced by a page number, from 1 to
    `preview_pages`; it serves `image/png`. `reason` says why processing failed, when it did.
    """

    reason: str | None
    preview_pages: int
    preview_url: str
    download_url: str

    @classmethod
    def listed(
        cls, file: dict[str, Any], *, preview_url: str, download_url: str
    ) -> ListedAttachment:
        """A media file with the links this listing hands out."""
        base = AttachmentOut.of(file)
        reason = file.get("reason")
        pages = file.get("preview_pages", 0)
        return cls(
            **base.model_dump(),
            reason=reason if isinstance(reason, str) else None,
            preview_pages=pages if isinstance(pages, int) else 0,
            preview_url=preview_url,
            download_url=download_url,
        )


class AttachmentList(BaseModel):
    """Answer of `GET /issues/{key}/attachments`: oldest first, as media keeps them."""

    attachments: list[ListedAttachment]


class NewAttachmentUpload(BaseModel):
    """Body of `POST /issues/{key}/attachments/uploads`: the file about to be sent in chunks."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: FileName
    size: Annotated[int, Field(ge=0)]
    chunk_size: Annotated[int | None, Field(ge=1)] = None


class AttachmentUpload(BaseModel):
    """A chunked upload of an attachment under way, and how to go on with it.

    Each chunk is sent with `PUT` to `chunk_url` (`{index}` from 0, and `&sha256=<hex>` of the
    chunk added), raw bytes of exactly `chunk_size` (the last one the rest); `token` serves this
    upload alone, until `expires_at`. `GET` on the upload says again which chunks are `missing`,
    with a fresh token; `POST` on `complete_url` makes the attachment.
    """

    upload_id: str
    name: str
    size: int
    chunk_size: int
    chunks: int
    received: list[int]
    missing: list[int]
    token: str
    expires_at: int
    chunk_url: str
    complete_url: str

    @classmethod
    def of(
        cls, state: dict[str, Any], token: str, expires_at: int, urls: tuple[str, str]
    ) -> AttachmentUpload:
        """Read media's state of an upload (502 `media_error` if it lacks a field)."""
        try:
            return cls(
                upload_id=str(state["id"]),
                name=str(state["name"]),
                size=int(state["size"]),
                chunk_size=int(state["chunk_size"]),
                chunks=int(state["chunks"]),
                received=[int(i) for i in state["received"]],
                missing=[int(i) for i in state["missing"]],
                token=token,
                expires_at=expires_at,
                chunk_url=urls[0],
                complete_url=urls[1],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(502, "media_error", "media described an upload incompletely") from exc
