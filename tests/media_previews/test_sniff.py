"""Content sniffing: the bytes decide the type; names and declared types play no part."""

from __future__ import annotations

import struct

import pytest

from tenantry.services.media.previews import PreviewFailed
from tenantry.services.media.previews import sniff as sniffing
from tenantry.services.media.previews.sniff import previewable_type, sniff

from . import documents


def ole2(stream: str) -> bytes:
    """A compound file header and one directory sector naming `stream` (what the sniffer reads)."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(22) + struct.pack("<H", 9) + bytes(480)

    def entry(name: str, kind: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return encoded.ljust(64, b"\0") + struct.pack("<HB", len(encoded), kind) + bytes(61)

    return header + entry("Root Entry", 5) + entry(stream, 2) + bytes(256)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (documents.png(), sniffing.PNG),
        (documents.jpeg_with_gps(), sniffing.JPEG),
        (b"GIF89a" + bytes(20), sniffing.GIF),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", sniffing.WEBP),
        (documents.pdf(1), sniffing.PDF),
        (documents.rtf("hello"), sniffing.RTF),
        (documents.docx("hello"), sniffing.DOCX),
        (documents.xlsx(["a"]), sniffing.XLSX),
        (documents.odt("hello"), sniffing.ODT),
        (documents.ods(["a"]), sniffing.ODS),
        (documents.odp("a"), sniffing.ODP),
        (ole2("WordDocument"), sniffing.DOC),
        (ole2("Workbook"), sniffing.XLS),
        (ole2("PowerPoint Document"), sniffing.PPT),
    ],
)
def test_the_bytes_name_the_type(data: bytes, media_type: str) -> None:
    assert sniff(data).media_type == media_type
    assert sniff(data).refusal is None


@pytest.mark.parametrize(
    ("main_part", "media_type"),
    [
        ("presentationml.presentation", sniffing.PPTX),
        ("spreadsheetml.sheet", sniffing.XLSX),
        ("wordprocessingml.document", sniffing.DOCX),
    ],
)
def test_ooxml_kinds_are_told_apart_by_their_main_part(main_part: str, media_type: str) -> None:
    content_types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Override PartName="/main.xml" ContentType="application/'
        f'vnd.openxmlformats-officedocument.{main_part}.main+xml"/></Types>'
    )
    data = documents.zipped({"[Content_Types].xml": content_types, "main.xml": "<x/>"})

    assert sniff(data).media_type == media_type


@pytest.mark.parametrize(
    "data",
    [
        b"just some text, named report.docx",
        documents.zipped({"notes.txt": "a plain zip"}),
        documents.zipped({"mimetype": "application/epub+zip"}, stored_first="mimetype"),
        ole2("SomethingElse"),
        b"PK\x03\x04 truncated zip",
        b"<html><body>hello</body></html>",
    ],
)
def test_other_bytes_are_unsupported(data: bytes) -> None:
    assert sniff(data).refusal == "unsupported_type"
    with pytest.raises(PreviewFailed) as failure:
        previewable_type(data)
    assert failure.value.reason == "unsupported_type"


def test_an_empty_file_is_refused() -> None:
    assert sniff(b"").refusal == "empty_file"


@pytest.mark.parametrize(
    "data",
    [
        documents.pdf_html_polyglot(),
        b"%PDF-1.7\n<!DOCTYPE html><title>x</title>\n" + documents.pdf(1)[9:],
        b" " * 900 + documents.pdf(1),
        b"%PDF-1.4\n%<script>fetch('/steal')</script>\n" + documents.pdf(1)[9:],
    ],
    ids=["html-first", "doctype-after-header", "shifted-header", "script-after-header"],
)
def test_pdf_html_polyglots_are_refused(data: bytes) -> None:
    assert sniff(data).refusal == "polyglot"


def test_a_pdf_header_beyond_what_readers_accept_is_not_a_pdf() -> None:
    assert sniff(b"x" * 5000 + documents.pdf(1)).refusal == "unsupported_type"
