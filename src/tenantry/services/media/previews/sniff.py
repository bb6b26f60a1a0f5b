"""Name a file's type from its bytes alone; the declared type and the file name are never trusted.

Office zips are told apart by their `mimetype` entry (OpenDocument) or `[Content_Types].xml`
(OOXML), legacy Office files by the stream names in their OLE2 directory. A PDF whose header is
shifted, or that carries HTML markup in its first bytes, is a PDF/HTML polyglot and is refused:
a browser could sniff it as a page while a PDF reader still opens it.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass
from typing import Final

from .errors import EMPTY_FILE, POLYGLOT, UNSUPPORTED_TYPE, PreviewFailed

OCTET_STREAM: Final = "application/octet-stream"
PDF: Final = "application/pdf"
PNG: Final = "image/png"
JPEG: Final = "image/jpeg"
GIF: Final = "image/gif"
WEBP: Final = "image/webp"
RTF: Final = "application/rtf"
DOC: Final = "application/msword"
XLS: Final = "application/vnd.ms-excel"
PPT: Final = "application/vnd.ms-powerpoint"
DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCM: Final = "application/vnd.ms-word.document.macroEnabled.12"
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSM: Final = "application/vnd.ms-excel.sheet.macroEnabled.12"
PPTX: Final = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PPTM: Final = "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
ODT: Final = "application/vnd.oasis.opendocument.text"
ODS: Final = "application/vnd.oasis.opendocument.spreadsheet"
ODP: Final = "application/vnd.oasis.opendocument.presentation"

IMAGE_TYPES: Final = frozenset({PNG, JPEG, GIF, WEBP})
# The extension LibreOffice is given for each Office type (the upload's own name is never used).
OFFICE_EXTENSIONS: Final[dict[str, str]] = {
    RTF: "rtf",
    DOC: "doc",
    XLS: "xls",
    PPT: "ppt",
    DOCX: "docx",
    DOCM: "docm",
    XLSX: "xlsx",
    XLSM: "xlsm",
    PPTX: "pptx",
    PPTM: "pptm",
    ODT: "odt",
    ODS: "ods",
    ODP: "odp",
}
ZIPPED_OFFICE_TYPES: Final = frozenset({DOCX, DOCM, XLSX, XLSM, PPTX, PPTM, ODT, ODS, ODP})

# PDF readers accept a header anywhere in the first 1024 bytes; browsers sniff HTML early too.
_PDF_HEADER_WINDOW: Final = 1024
_HTML_MARKUP: Final = re.compile(
    rb"<\s*(!doctype\s+html|html|head|body|script|iframe|object|embed|svg|meta|a\s|img\s|style)",
    re.IGNORECASE,
)
_OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODF_MIMETYPES: Final = {
    b"application/vnd.oasis.opendocument.text": ODT,
    b"application/vnd.oasis.opendocument.spreadsheet": ODS,
    b"application/vnd.oasis.opendocument.presentation": ODP,
}
_OOXML_MAIN_PARTS: Final = (
    (b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", DOCX),
    (b"application/vnd.ms-word.document.macroEnabled.main+xml", DOCM),
    (b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", XLSX),
    (b"application/vnd.ms-excel.sheet.macroEnabled.main+xml", XLSM),
    (b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml", PPTX),
    (b"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml", PPTM),
)
_MAX_CONTENT_TYPES_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sniffed:
    """The type the bytes show (octet-stream when unknown) and why no preview can be made, if so."""

    media_type: str
    refusal: str | None = None


def sniff(data: bytes) -> Sniffed:
    """Look at the bytes only and say what they are."""
    if not data:
        return Sniffed(OCTET_STREAM, EMPTY_FILE)
    pdf_at = data.find(b"%PDF-", 0, _PDF_HEADER_WINDOW + 5)
    if pdf_at > 0 or (pdf_at == 0 and _HTML_MARKUP.search(data, 0, _PDF_HEADER_WINDOW)):
        return Sniffed(PDF, POLYGLOT)
    if pdf_at == 0:
        return Sniffed(PDF)
    image = _image_type(data)
    if image is not None:
        return Sniffed(image)
    if data.startswith(b"{\\rtf"):
        return Sniffed(RTF)
    if data.startswith(_OLE2_MAGIC):
        return _known(_ole2_type(data))
    if data.startswith(b"PK\x03\x04"):
        return _known(_zip_type(data))
    return Sniffed(OCTET_STREAM, UNSUPPORTED_TYPE)


def sniff_head(head: bytes) -> Sniffed | None:
    """What a file's first bytes already settle, or None when only the whole file can tell.

    Office containers (zip, OLE2) name their type in directories that may lie anywhere in the
    file; every other type, or that there is no preview for it, shows in the first bytes.
    """
    if head.startswith((b"PK\x03\x04", _OLE2_MAGIC)):
        return None
    return sniff(head)


def previewable_type(data: bytes) -> str:
    """The media type to preview the bytes as, or PreviewFailed with the reason there is none."""
    sniffed = sniff(data)
    if sniffed.refusal is not None:
        raise PreviewFailed(sniffed.refusal, f"content sniffed as {sniffed.media_type}")
    return sniffed.media_type


def _known(media_type: str | None) -> Sniffed:
    if media_type is None:
        return Sniffed(OCTET_STREAM, UNSUPPORTED_TYPE)
    return Sniffed(media_type)


def _image_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def _ole2_type(data: bytes) -> str | None:
    """Read stream names from the OLE2 directory entries (128-byte records, UTF-16LE names)."""
    names: set[str] = set()
    for offset in range(512, len(data) - 127, 128):
        name_length, entry_type = struct.unpack_from("<HB", data, offset + 64)
        if entry_type not in (1, 2, 5) or not 2 <= name_length <= 64 or name_length % 2:
            continue
        try:
            names.add(data[offset : offset + name_length - 2].decode("utf-16-le"))
        except UnicodeDecodeError:
            continue
    if "WordDocument" in names:
        return DOC
    if "PowerPoint Document" in names:
        return PPT
    if "Workbook" in names or "Book" in names:
        return XLS
    return None


def _zip_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = {info.filename: info for info in archive.infolist()}
            mimetype = entries.get("mimetype")
            if mimetype is not None and mimetype.file_size <= 128:
                return _ODF_MIMETYPES.get(archive.read(mimetype).strip())
            content_types = entries.get("[Content_Types].xml")
            if content_types is not None and content_types.file_size <= _MAX_CONTENT_TYPES_BYTES:
                declared = archive.read(content_types)
                for marker, media_type in _OOXML_MAIN_PARTS:
                    if marker in declared:
                        return media_type
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError):
        return None
    except RuntimeError:  # an encrypted entry
        return None
    return None
