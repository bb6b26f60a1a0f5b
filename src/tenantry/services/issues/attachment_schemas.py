"""What the attachment routes answer: media's record of a file, cut to the public contract."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tenantry.platform.errors import ApiError


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
