"""Previews through the worker pool: every common type renders, every hostile file fails cleanly.

After each refusal the same pool still renders a good file, and no hostile file gets to run code,
reach the network, or write outside its own temporary directory.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from tenantry.services.media.previews import (
    PreviewFailed,
    PreviewLimits,
    PreviewResult,
    PreviewWorkers,
)
from tenantry.services.media.previews import sniff as types

from . import documents
from .conftest import Spy, listing

WAIT = 120  # seconds; a bound for a stuck test, never a speed expectation


def render(pool: PreviewWorkers, data: bytes, name: str, **limits: int | float) -> PreviewResult:
    return pool.submit(data, name, PreviewLimits(**limits) if limits else None).result(WAIT)


def failure(pool: PreviewWorkers, data: bytes, name: str, **limits: int | float) -> str:
    with pytest.raises(PreviewFailed) as refused:
        render(pool, data, name, **limits)
    return refused.value.reason


def assert_has_ink(png: bytes) -> None:
    """The page is a PNG with something drawn on it (not a blank page)."""
    page = Image.open(io.BytesIO(png))
    assert page.format == "PNG"
    rgb = page.convert("RGB")
    assert ImageChops.difference(rgb, Image.new("RGB", rgb.size, "white")).getbbox() is not None


def assert_good_file_still_converts(pool: PreviewWorkers) -> None:
    result = render(pool, documents.docx("still working"), "after.docx")
    assert result.media_type == types.DOCX
    assert_has_ink(result.pages[0])


OFFICE: dict[str, tuple[Callable[[], bytes], str]] = {
    "report.docx": (lambda: documents.docx("Quarterly report"), types.DOCX),
    "numbers.xlsx": (lambda: documents.xlsx(["Revenue", "42"]), types.XLSX),
    "notes.odt": (lambda: documents.odt("Meeting notes"), types.ODT),
    "sheet.ods": (lambda: documents.ods(["Cost", "7"]), types.ODS),
    "slides.odp": (lambda: documents.odp("Roadmap"), types.ODP),
    "letter.rtf": (lambda: documents.rtf("Dear customer"), types.RTF),
}


def test_office_documents_get_preview_pages(pool: PreviewWorkers, pptx: bytes) -> None:
    files = {name: (build(), media_type) for name, (build, media_type) in OFFICE.items()}
    files["deck.pptx"] = (pptx, types.PPTX)
    pending = {name: pool.submit(data, name) for name, (data, _) in files.items()}

    for name, future in pending.items():
        result = future.result(WAIT)
        assert result.media_type == files[name][1], name
        assert result.page_count >= 1, name
        assert_has_ink(result.pages[0])
        assert max(Image.open(io.BytesIO(result.thumbnail)).size) <= 256, name


def test_a_pdf_gets_one_preview_per_page(pool: PreviewWorkers) -> None:
    result = render(pool, documents.pdf(3), "scan.pdf")

    assert result.media_type == types.PDF
    assert result.page_count == 3
    assert all(Image.open(io.BytesIO(page)).format == "PNG" for page in result.pages)


def test_a_png_gets_a_preview_and_a_thumbnail(pool: PreviewWorkers) -> None:
    result = render(pool, documents.png(size=(600, 300)), "diagram.png")

    assert result.media_type == types.PNG
    assert result.page_count == 1
    assert Image.open(io.BytesIO(result.pages[0])).size == (600, 300)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (256, 128)


def test_a_jpeg_with_gps_gets_a_preview_without_exif(pool: PreviewWorkers) -> None:
    result = render(pool, documents.jpeg_with_gps(), "holiday.jpg")

    assert result.media_type == types.JPEG
    for png in (result.pages[0], result.thumbnail):
        image = Image.open(io.BytesIO(png))
        assert not image.getexif()
        assert "exif" not in image.info
        assert b"Exif" not in png and b"SpyCam" not in png


def test_the_declared_name_does_not_choose_the_type(pool: PreviewWorkers) -> None:
    result = render(pool, documents.png(), "invoice.docx")

    assert result.media_type == types.PNG


HOSTILE: dict[str, tuple[Callable[[], bytes], str, dict[str, int], str]] = {
    "decompression-bomb png": (documents.decompression_bomb_png, "bomb.png", {}, "image_too_large"),
    "zip-bomb docx": (
        lambda: documents.docx("bomb", padding=bytes(64 * 1024 * 1024)),
        "bomb.docx",
        {},
        "zip_bomb",
    ),
    "malformed pdf": (documents.malformed_pdf, "broken.pdf", {}, "malformed_pdf"),
    "pdf/html polyglot": (documents.pdf_html_polyglot, "paper.pdf", {}, "polyglot"),
    "0-byte file": (lambda: b"", "empty.txt", {}, "empty_file"),
    "over-size file": (
        lambda: documents.png(size=(400, 400)),
        "big.png",
        {"max_bytes": 512},
        "too_large",
    ),
    "unknown bytes": (lambda: b"MZ\x90\x00 not a document", "setup.pdf", {}, "unsupported_type"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_files_fail_with_a_reason_and_the_pool_survives(
    pool: PreviewWorkers, case: str
) -> None:
    build, name, limits, reason = HOSTILE[case]

    assert failure(pool, build(), name, **limits) == reason

    assert render(pool, documents.png(), "after.png").media_type == types.PNG


@pytest.mark.parametrize(
    "traversal", ["../../etc/passwd", "..", "a/../../b.docx", "..\\..\\x.docx", "c\0.docx"]
)
def test_a_path_traversal_name_is_refused_and_never_used_as_a_path(
    pool: PreviewWorkers, tmp_path: Path, traversal: str
) -> None:
    escape = str(tmp_path / "inside" / ".." / "escaped.docx")
    for name in (traversal, escape):
        assert failure(pool, documents.docx("x"), name) == "invalid_name"
    assert listing(tmp_path) == []


def test_an_external_image_link_is_never_fetched(pool: PreviewWorkers, spy_server: Spy) -> None:
    document = documents.odt_with_linked_image(f"{spy_server.url}/tracking.png")

    result = render(pool, document, "linked.odt")

    assert result.media_type == types.ODT
    assert_has_ink(result.pages[0])
    assert spy_server.requests == []


def test_a_macro_bound_to_document_open_never_runs(pool: PreviewWorkers, tmp_path: Path) -> None:
    marker = tmp_path / "macro-ran.txt"

    result = render(pool, documents.odt_with_open_macro(marker), "macro.odt")

    assert result.media_type == types.ODT
    assert not marker.exists()
    assert listing(tmp_path) == []


def test_a_conversion_over_the_wall_clock_is_killed(pool: PreviewWorkers) -> None:
    reason = failure(pool, documents.docx("slow"), "slow.docx", conversion_timeout=0.3)

    assert reason == "conversion_timeout"
    assert_good_file_still_converts(pool)


def test_a_worker_killed_mid_conversion_is_replaced_and_the_job_retried(
    pool: PreviewWorkers,
) -> None:
    pending = pool.submit(documents.docx("survivor"), "survivor.docx")
    victims = _wait_for_workers(pool)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)

    result = pending.result(WAIT)

    assert result.media_type == types.DOCX
    assert_has_ink(result.pages[0])
    assert not set(pool.worker_pids()) & set(victims)
    assert render(pool, documents.png(), "after.png").media_type == types.PNG


def test_a_worker_that_stops_answering_is_killed_and_replaced() -> None:
    with PreviewWorkers(workers=1, overdue_grace=0.0) as lone:
        pending = lone.submit(
            documents.docx("hangs"), "hang.docx", PreviewLimits(conversion_timeout=1)
        )
        with pytest.raises(PreviewFailed) as refused:
            pending.result(WAIT)
        assert refused.value.reason == "conversion_timeout"

        assert render(lone, documents.png(), "after.png").media_type == types.PNG


async def test_awaiting_a_conversion_leaves_the_event_loop_free(pool: PreviewWorkers) -> None:
    ticks = 0
    conversion = asyncio.ensure_future(pool.render(documents.odt("async"), "async.odt"))
    while not conversion.done():
        ticks += 1
        await asyncio.sleep(0.01)

    assert (await conversion).media_type == types.ODT
    assert ticks > 1


def _wait_for_workers(pool: PreviewWorkers) -> list[int]:
    for _ in range(WAIT * 10):
        pids = pool.worker_pids()
        if pids:
            return pids
        signal.sigtimedwait([], 0.1)
    raise AssertionError("no worker process started")


def test_workers_start_with_work_and_exit_once_idle() -> None:
    with PreviewWorkers(workers=1, idle_seconds=0.2) as pool:
        assert pool.worker_pids() == []  # nothing runs before the first job
        assert render(pool, documents.png(), "first.png").media_type == types.PNG
        started = pool.worker_pids()  # still there: idle for less than 0.2 s
        for _ in range(WAIT * 10):
            if not pool.worker_pids() and not any(_alive(pid) for pid in started):
                break
            signal.sigtimedwait([], 0.1)
        else:
            raise AssertionError("the idle workers did not exit")

        # The next job starts them again.
        assert render(pool, documents.png(), "again.png").media_type == types.PNG


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
