"""Images are re-encoded from pixels with no metadata; PDFs are rasterised; bombs are refused."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from tenantry.services.media.previews import PreviewFailed, PreviewLimits
from tenantry.services.media.previews.images import render_image
from tenantry.services.media.previews.pdf import render_pdf

from . import documents

LIMITS = PreviewLimits()


def png_chunks(data: bytes) -> list[bytes]:
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return chunks


def test_a_jpeg_with_gps_exif_comes_out_as_a_png_without_any_exif() -> None:
    original = documents.jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the GPS is really there

    preview = render_image(original, LIMITS)

    image = Image.open(io.BytesIO(preview))
    assert image.format == "PNG"
    assert image.size == (80, 60)
    assert not image.getexif()
    assert "exif" not in image.info
    assert b"SpyCam" not in preview and b"Exif" not in preview
    assert set(png_chunks(preview)) <= {b"IHDR", b"IDAT", b"IEND"}


def test_png_text_icc_and_exif_chunks_are_dropped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone@example.com")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (1, 2, 3, 128)).save(
        out, format="PNG", pnginfo=info, exif=exif, icc_profile=b"\0" * 128
    )

    preview = render_image(out.getvalue(), LIMITS)

    assert set(png_chunks(preview)) <= {b"IHDR", b"IDAT", b"IEND"}
    assert Image.open(io.BytesIO(preview)).mode == "RGBA"


def test_the_exif_orientation_is_applied_to_the_pixels() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = io.BytesIO()
    Image.new("RGB", (40, 20)).save(out, format="JPEG", exif=exif)

    preview = Image.open(io.BytesIO(render_image(out.getvalue(), LIMITS)))

    assert preview.size == (20, 40)


@pytest.mark.parametrize(
    "data",
    [documents.decompression_bomb_png(), documents.png(size=(6000, 5000), color=(0, 0, 0))],
    ids=["900-megapixel-bomb", "30-megapixels"],
)
def test_images_over_25_megapixels_are_refused(data: bytes) -> None:
    with pytest.raises(PreviewFailed) as failure:
        render_image(data, LIMITS)
    assert failure.value.reason == "image_too_large"


def test_a_broken_image_is_malformed() -> None:
    with pytest.raises(PreviewFailed) as failure:
        render_image(documents.png()[:40], LIMITS)
    assert failure.value.reason == "malformed_image"


def test_pdf_pages_are_rasterised_up_to_the_page_limit() -> None:
    pages = render_pdf(documents.pdf(5), PreviewLimits(max_pages=3, dpi=72))

    assert len(pages) == 3
    assert all(Image.open(io.BytesIO(page)).size == (300, 200) for page in pages)


def test_a_huge_pdf_page_is_scaled_down_to_the_pixel_budget() -> None:
    pages = render_pdf(documents.pdf(1), PreviewLimits(dpi=600, max_page_pixels=60_000))

    width, height = Image.open(io.BytesIO(pages[0])).size
    assert width * height <= 60_000
    assert (width, height) == pytest.approx((300, 200), rel=0.01)


@pytest.mark.parametrize("data", [documents.malformed_pdf(), b"%PDF-1.7\n", documents.pdf(2)[:200]])
def test_a_malformed_pdf_is_refused(data: bytes) -> None:
    with pytest.raises(PreviewFailed) as failure:
        render_pdf(data, LIMITS)
    assert failure.value.reason == "malformed_pdf"
