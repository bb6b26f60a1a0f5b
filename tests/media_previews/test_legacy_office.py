"""Real legacy Office files (doc, xls, ppt) are converted and rasterised, not only sniffed.

The files are made here by LibreOffice from OOXML files the tests write themselves (fixture
generation, outside the sandbox); the previews then come from the sandboxed pipeline.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tenantry.services.media.previews import PreviewWorkers
from tenantry.services.media.previews import sniff as types

from . import documents
from .test_pipeline import WAIT, assert_has_ink


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, pptx: bytes) -> dict[str, tuple[bytes, str]]:
    """A .doc, .xls and .ppt converted from a docx, xlsx and pptx; each with its sniffed type."""
    workdir = tmp_path_factory.mktemp("legacy")
    made = {
        "memo.doc": (documents.docx("Legacy memo"), "docx", "doc", types.DOC),
        "ledger.xls": (documents.xlsx(["Ledger", "1234"]), "xlsx", "xls", types.XLS),
        "pitch.ppt": (pptx, "pptx", "ppt", types.PPT),
    }
    return {
        name: (documents.converted(data, source, target, workdir / target), media_type)
        for name, (data, source, target, media_type) in made.items()
    }


@pytest.mark.parametrize("name", ["memo.doc", "ledger.xls", "pitch.ppt"])
def test_legacy_office_files_get_preview_pages(
    pool: PreviewWorkers, legacy: dict[str, tuple[bytes, str]], name: str
) -> None:
    data, media_type = legacy[name]
    result = pool.submit(data, name).result(WAIT)
    assert result.media_type == media_type
    assert result.page_count >= 1
    assert_has_ink(result.pages[0])
    assert max(Image.open(io.BytesIO(result.thumbnail)).size) <= 256


def test_a_legacy_file_under_another_name_is_still_what_its_bytes_say(
    pool: PreviewWorkers, legacy: dict[str, tuple[bytes, str]]
) -> None:
    data, media_type = legacy["ledger.xls"]
    result = pool.submit(data, "ledger.doc").result(WAIT)
    assert result.media_type == media_type
    assert_has_ink(result.pages[0])
