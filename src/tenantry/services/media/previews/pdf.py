"""Rasterise a PDF with pdfium into PNG pages, bounded in page count and pixel area.

Only pixels leave: pages are rendered to bitmaps and encoded as fresh PNGs. No form environment or
JavaScript is set up, so a PDF's actions never run. pdfium is not thread-safe, so one lock
serialises its use within a process (worker processes each have their own).
"""

from __future__ import annotations

import threading

import pypdfium2 as pdfium

from .errors import ENCRYPTED_PDF, MALFORMED_PDF, PreviewFailed
from .images import encode_png
from .limits import PreviewLimits

_PDFIUM_PASSWORD_ERROR = 4
_POINTS_PER_INCH = 72
_PDFIUM = threading.Lock()


def render_pdf(data: bytes, limits: PreviewLimits) -> list[bytes]:
    """PNG bytes of the first `limits.max_pages` pages, in order."""
    with _PDFIUM:
        return _render(data, limits)


def _render(data: bytes, limits: PreviewLimits) -> list[bytes]:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == _PDFIUM_PASSWORD_ERROR:
            raise PreviewFailed(ENCRYPTED_PDF, "the PDF needs a password") from exc
        raise PreviewFailed(MALFORMED_PDF, str(exc)) from exc
    try:
        page_count = len(document)
        if page_count < 1:
            raise PreviewFailed(MALFORMED_PDF, "the PDF has no pages")
        return [
            _render_page(document, index, limits)
            for index in range(min(page_count, limits.max_pages))
        ]
    finally:
        document.close()


def _render_page(document: pdfium.PdfDocument, index: int, limits: PreviewLimits) -> bytes:
    try:
        page = document[index]
    except pdfium.PdfiumError as exc:
        raise PreviewFailed(MALFORMED_PDF, f"page {index + 1}: {exc}") from exc
    try:
        width, height = page.get_size()
        if not (width > 0 and height > 0):
            raise PreviewFailed(MALFORMED_PDF, f"page {index + 1} has no area")
        scale = limits.dpi / _POINTS_PER_INCH
        area = width * height * scale * scale
        if area > limits.max_page_pixels:
            scale *= (limits.max_page_pixels / area) ** 0.5
        bitmap = page.render(scale=scale, may_draw_forms=False)
        try:
            image = bitmap.to_pil()
            return encode_png(image.convert("RGB"))
        finally:
            bitmap.close()
    except pdfium.PdfiumError as exc:
        raise PreviewFailed(MALFORMED_PDF, f"page {index + 1}: {exc}") from exc
    finally:
        page.close()
