"""Re-encode an untrusted image as a fresh PNG: new pixels only, no metadata, bombs refused.

The pixel count is read from the header and checked before any pixel is decoded. The output is
built from raw pixel bytes into a new image, so EXIF, GPS, XMP, ICC profiles and text chunks of
the original cannot travel along.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import IMAGE_TOO_LARGE, MALFORMED_IMAGE, PreviewFailed
from .limits import PreviewLimits

_FLAT_MODES = {"1": "L", "L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"}


def render_image(data: bytes, limits: PreviewLimits) -> bytes:
    """The first frame of an image as a metadata-free PNG, at most max_page_pixels in area."""
    with _open(data, limits) as source:
        try:
            source.seek(0)
            source.load()
            upright = ImageOps.exif_transpose(source)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise _decode_failure(exc) from exc
        mode = _FLAT_MODES.get(upright.mode, "RGBA" if _has_alpha(upright) else "RGB")
        flat = upright.convert(mode)
        clean = Image.frombytes(flat.mode, flat.size, flat.tobytes())
    return encode_png(shrink(clean, limits.max_page_pixels))


def render_thumbnail(png: bytes, side: int) -> bytes:
    """A PNG at most `side` pixels on its longer edge, from a PNG this package produced."""
    with Image.open(io.BytesIO(png)) as page:
        page.load()
        small = page.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return encode_png(small)


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes with nothing but pixels (no text, ICC or EXIF chunks)."""
    out = io.BytesIO()
    image.info.clear()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def shrink(image: Image.Image, max_pixels: int) -> Image.Image:
    """Scale down, keeping the aspect ratio, so the area is at most max_pixels."""
    width, height = image.size
    if width * height <= max_pixels:
        return image
    factor = (max_pixels / (width * height)) ** 0.5
    size = (max(1, int(width * factor)), max(1, int(height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _open(data: bytes, limits: PreviewLimits) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PreviewFailed(IMAGE_TOO_LARGE, str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _decode_failure(exc) from exc
    width, height = image.size
    if width * height > limits.max_image_pixels:
        image.close()
        raise PreviewFailed(IMAGE_TOO_LARGE, f"{width}x{height} pixels")
    if width < 1 or height < 1:
        image.close()
        raise PreviewFailed(MALFORMED_IMAGE, f"{width}x{height} pixels")
    return image


def _decode_failure(exc: Exception) -> PreviewFailed:
    if isinstance(exc, Image.DecompressionBombError) or "too large" in str(exc).lower():
        return PreviewFailed(IMAGE_TOO_LARGE, str(exc))
    return PreviewFailed(MALFORMED_IMAGE, str(exc) or type(exc).__name__)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"PA", "La", "RGBa"} or "transparency" in image.info
