"""Turn untrusted bytes into preview pages and a thumbnail: PNG pixels, never the original bytes.

The type comes from sniffing. The file name must be a plain name (no path parts) and is otherwise
ignored: it is never used as a path or to choose a converter.
"""

from __future__ import annotations

from .errors import CONVERSION_FAILED, MALFORMED_PDF, TOO_LARGE, UNSUPPORTED_TYPE, PreviewFailed
from .images import render_image, render_thumbnail
from .limits import PreviewLimits
from .names import check_file_name
from .office import convert_to_pdf
from .pdf import render_pdf
from .result import PreviewResult
from .sniff import IMAGE_TYPES, OFFICE_EXTENSIONS, PDF, previewable_type


def render_previews(data: bytes, name: str, limits: PreviewLimits | None = None) -> PreviewResult:
    """Preview pages (PNG, page 1 first) and a thumbnail, or PreviewFailed(reason)."""
    check_file_name(name)
    limits = limits or PreviewLimits()
    if len(data) > limits.max_bytes:
        raise PreviewFailed(TOO_LARGE, f"{len(data)} bytes, limit {limits.max_bytes}")
    media_type = previewable_type(data)
    if media_type in IMAGE_TYPES:
        pages = [render_image(data, limits)]
    elif media_type == PDF:
        pages = render_pdf(data, limits)
    elif media_type in OFFICE_EXTENSIONS:
        pages = _office_pages(data, media_type, limits)
    else:
        raise PreviewFailed(UNSUPPORTED_TYPE, media_type)
    return PreviewResult(media_type, pages, render_thumbnail(pages[0], limits.thumbnail_side))


def _office_pages(data: bytes, media_type: str, limits: PreviewLimits) -> list[bytes]:
    converted = convert_to_pdf(data, media_type, limits)
    try:
        return render_pdf(converted, limits)
    except PreviewFailed as exc:
        if exc.reason == MALFORMED_PDF:
            raise PreviewFailed(CONVERSION_FAILED, f"LibreOffice wrote a bad PDF: {exc}") from exc
        raise
