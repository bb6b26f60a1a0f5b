"""Files still pending when the media process dies are not forgotten: `up` starts it again, it
queues them again, and each ends `succeeded` or `failed` with previews that load."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from media_previews.documents import docx

from .api import signup
from .cloud import Cloud
from .test_attachments import attach, listing, processed

pytestmark = pytest.mark.e2e
DOCUMENTS = 8


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (the media process's preview workers)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.backend
def test_files_pending_when_media_is_killed_all_finish_once_it_is_back(tmp_path: Path) -> None:
    cloud = Cloud.start(tmp_path / "data")
    try:
        site = signup(cloud, region="eu", prefix="requeue")
        site.create_project()
        key = site.create_issue("Many documents")["key"]
        for number in range(DOCUMENTS):
            made = attach(site, key, f"doc-{number}.docx", docx(f"Document number {number}"))
            assert made.status_code == 201, made.text
        before = listing(site, key).json()["attachments"]
        assert any(f["status"] == "pending" for f in before), before
        process = cloud.process_of("media", "eu")
        media = cloud.pids()[process]
        workers = descendants(media)
        os.kill(media, signal.SIGKILL)
        # The killed process's preview workers end on their own once their parent is gone.
        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if alive(pid)]
        cloud.wait_restarted(process)
        with cloud.http("eu") as plain:
            files = processed(site, key, DOCUMENTS)
            assert sorted(files) == [f"doc-{number}.docx" for number in range(DOCUMENTS)]
            for name, file in files.items():
                assert file["status"] == "succeeded", (name, file)
                page = plain.get(file["preview_url"].replace("{page}", "1"))
                assert page.status_code == 200, page.text
                assert page.headers["content-type"] == "image/png"
    finally:
        cloud.stop()
