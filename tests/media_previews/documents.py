"""Build every test file from code: Office zips from minimal parts, images with Pillow, PDFs."""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import pypdfium2 as pdfium
from PIL import Image

_ODF_MIME = {
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
}
_OFFICE_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" '
    'xmlns:dom="http://www.w3.org/2001/xml-events" '
    'xmlns:ooo="http://openoffice.org/2004/office" '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'office:version="1.3"'
)


def zipped(parts: dict[str, bytes | str], *, stored_first: str | None = None) -> bytes:
    """A zip of the parts; `stored_first` is written first and uncompressed (ODF's mimetype)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if stored_first is not None:
            archive.writestr(stored_first, parts[stored_first], compress_type=zipfile.ZIP_STORED)
        for name, body in parts.items():
            if name != stored_first:
                archive.writestr(name, body)
    return out.getvalue()


def odf(kind: str, body: str, *, scripts: str = "", extra: dict[str, str] | None = None) -> bytes:
    """An OpenDocument file of kind odt/ods/odp whose office:body holds `body`."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_OFFICE_NS}>'
        f"{scripts}<office:body>{body}</office:body></office:document-content>"
    )
    files = {"content.xml": "text/xml", **{name: "" for name in (extra or {})}}
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_ODF_MIME[kind]}"/>'
        + "".join(
            f'<manifest:file-entry manifest:full-path="{name}" manifest:media-type="{kind_}"/>'
            for name, kind_ in files.items()
        )
        + "</manifest:manifest>"
    )
    parts: dict[str, bytes | str] = {
        "mimetype": _ODF_MIME[kind],
        "content.xml": content,
        "META-INF/manifest.xml": manifest,
        **(extra or {}),
    }
    return zipped(parts, stored_first="mimetype")


def odt(text: str) -> bytes:
    return odf("odt", f"<office:text><text:p>{escape(text)}</text:p></office:text>")


def ods(cells: list[str]) -> bytes:
    row = "".join(
        f'<table:table-cell office:value-type="string"><text:p>{escape(c)}</text:p>'
        "</table:table-cell>"
        for c in cells
    )
    return odf(
        "ods",
        '<office:spreadsheet><table:table table:name="Sheet1">'
        f"<table:table-row>{row}</table:table-row></table:table></office:spreadsheet>",
    )


def odp(title: str) -> bytes:
    return odf(
        "odp",
        '<office:presentation><draw:page draw:name="page1">'
        '<draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm">'
        f"<draw:text-box><text:p>{escape(title)}</text:p></draw:text-box></draw:frame>"
        "</draw:page></office:presentation>",
    )


def odt_with_linked_image(url: str) -> bytes:
    """A text document showing an image that lives at `url` (a link, not embedded)."""
    return odf(
        "odt",
        "<office:text><text:p>linked picture:"
        '<draw:frame draw:name="pic" text:anchor-type="as-char" svg:width="4cm" svg:height="4cm">'
        f'<draw:image xlink:href="{escape(url)}" xlink:type="simple" xlink:show="embed" '
        'xlink:actuate="onLoad"/></draw:frame></text:p></office:text>',
    )


def odt_with_open_macro(target: Path, *, then_quit: bool = False) -> bytes:
    """A text document whose Basic macro, bound to opening the document, writes `target`.

    With `then_quit` the macro also ends LibreOffice, so a run where it does execute ends at once.
    """
    basic = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" '
        '"module.dtd">'
        '<script:module xmlns:script="http://openoffice.org/2000/script" '
        'script:name="Module1" script:language="StarBasic">'
        "Sub OnOpen\n"
        "  Dim n As Integer\n"
        "  n = FreeFile\n"
        f'  Open "{escape(str(target))}" For Output As #n\n'
        '  Print #n, "macro ran"\n'
        "  Close #n\n" + ("  StarDesktop.terminate()\n" if then_quit else "") + "End Sub\n"
        "</script:module>"
    )
    library = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<!DOCTYPE library:library PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" '
        '"library.dtd">'
        '<library:library xmlns:library="http://openoffice.org/2000/library" '
        'library:name="Standard" library:readonly="false" library:passwordprotected="false">'
        '<library:element library:name="Module1"/></library:library>'
    )
    container = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<!DOCTYPE library:libraries PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" '
        '"libraries.dtd">'
        '<library:libraries xmlns:library="http://openoffice.org/2000/library" '
        'xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<library:library library:name="Standard" library:link="false"/></library:libraries>'
    )
    events = (
        "<office:scripts><office:event-listeners>"
        '<script:event-listener script:language="ooo:script" script:event-name="dom:load" '
        'xlink:href="vnd.sun.star.script:Standard.Module1.OnOpen?language=Basic&amp;'
        'location=document" xlink:type="simple"/>'
        "</office:event-listeners></office:scripts>"
    )
    return odf(
        "odt",
        "<office:text><text:p>a document with a macro</text:p></office:text>",
        scripts=events,
        extra={
            "Basic/Standard/Module1.xml": basic,
            "Basic/Standard/script-lb.xml": library,
            "Basic/script-lc.xml": container,
        },
    )


_CT_DEFAULTS = (
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
)
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def _ooxml(main_part: str, main_type: str, parts: dict[str, str], overrides: str = "") -> bytes:
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'{_CT_DEFAULTS}<Override PartName="/{main_part}" ContentType="{main_type}"/>{overrides}'
        "</Types>"
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG_RELS}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="{main_part}"/>'
        "</Relationships>"
    )
    return zipped({"[Content_Types].xml": content_types, "_rels/.rels": rels, **parts})


def docx(text: str, *, padding: bytes = b"") -> bytes:
    """A Word document; `padding` adds a part of that content (for zip bombs)."""
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{escape(text)}</w:t></w:r></w:p></w:body></w:document>"
    )
    parts: dict[str, str] = {"word/document.xml": document}
    built = _ooxml(
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        parts,
    )
    if not padding:
        return built
    out = io.BytesIO(built)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/padding.bin", padding)
    return out.getvalue()


def xlsx(cells: list[str]) -> bytes:
    workbook = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:r="{_REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )
    workbook_rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG_RELS}">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    )
    row = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{escape(c)}</t></is></c>'
        for i, c in enumerate(cells)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<sheetData><row r="1">{row}</row></sheetData></worksheet>'
    )
    return _ooxml(
        "xl/workbook.xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        {
            "xl/workbook.xml": workbook,
            "xl/_rels/workbook.xml.rels": workbook_rels,
            "xl/worksheets/sheet1.xml": sheet,
        },
        overrides='<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>',
    )


def rtf(text: str) -> bytes:
    return ("{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 DejaVu Sans;}} " + text + "\\par}").encode()


def converted(data: bytes, source_extension: str, target: str, workdir: Path) -> bytes:
    """Convert a trusted file we built ourselves with LibreOffice (used to make a pptx)."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"source.{source_extension}"
    source.write_bytes(data)
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation={(workdir / 'profile').as_uri()}",
            "--convert-to",
            target,
            "--outdir",
            str(workdir / "out"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (workdir / "out" / f"source.{target}").read_bytes()


def pdf(pages: int = 2) -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(300, 200)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def png(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A JPEG carrying EXIF with a GPS position and a camera make."""
    image = Image.new("RGB", (80, 60), (20, 120, 220))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def decompression_bomb_png(side: int = 30_000) -> bytes:
    """A PNG of a few hundred KB that would decode to side x side pixels (900 MP by default)."""
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte, then one bit per pixel, all black
    packer = zlib.compressobj(1)
    block = row * 1000
    pixels = b"".join(packer.compress(block) for _ in range(side // 1000))
    pixels += packer.compress(row * (side % 1000)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def malformed_pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n%%EOF\n" + b"\x00" * 64


def pdf_html_polyglot() -> bytes:
    """HTML up front, a real PDF right behind it: a browser and a PDF reader both accept it."""
    return b"<html><script>alert(document.domain)</script></html>\n" + pdf(1)
