"""Zip bombs are refused from their directory, their ratio, or the bytes they really inflate to."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from tenantry.services.media.previews import PreviewFailed, PreviewLimits
from tenantry.services.media.previews.zipguard import check_zip

from . import documents


def refusal(data: bytes, limits: PreviewLimits) -> str:
    with pytest.raises(PreviewFailed) as refused:
        check_zip(data, limits)
    return refused.value.reason


def test_an_ordinary_document_passes() -> None:
    check_zip(documents.docx("fine"), PreviewLimits())


def test_a_high_ratio_is_a_bomb() -> None:
    bomb = documents.docx("x", padding=bytes(8 * 1024 * 1024))

    assert refusal(bomb, PreviewLimits()) == "zip_bomb"


def test_too_much_uncompressed_data_is_a_bomb_even_at_a_low_ratio() -> None:
    noise = documents.docx("x", padding=os.urandom(3 * 1024 * 1024))

    assert refusal(noise, PreviewLimits(zip_max_uncompressed=2 * 1024 * 1024)) == "zip_bomb"


def test_too_many_entries_is_a_bomb() -> None:
    parts = {f"word/media/{n}.xml": "<x/>" for n in range(50)}

    assert refusal(documents.zipped(parts), PreviewLimits(zip_max_entries=20)) == "zip_bomb"


def test_an_archive_whose_sizes_lie_is_refused_before_conversion() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", bytes(4 * 1024 * 1024))
    data = bytearray(out.getvalue())
    # Rewrite the declared uncompressed size (local header and central directory) to 100 bytes.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = (100).to_bytes(4, "little")

    assert refusal(bytes(data), PreviewLimits()) == "conversion_failed"
