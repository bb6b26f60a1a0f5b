"""A deleted issue's attachments leave media even if media is frozen when the issue is deleted.

The region's media process is stopped (SIGSTOP) while an issue with attachments is deleted:
the delete still answers 204 (within the client's 10 s timeout), and once media runs again
(SIGCONT) the issues service's retry loop deletes the collection: its blobs leave the store and
the old download links answer 404.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from media_previews.documents import pdf, png

from .api import Site, purge_from_trash, signup
from .cloud import Cloud
from .stored import media_forgot

pytestmark = pytest.mark.e2e
WAIT_SECONDS = 120


def stored_file(cloud: Cloud, site: Site, file_id: str) -> Path:
    """Where the local blob store keeps a file's objects (the cloud's default media store)."""
    return cloud.data_dir / "media" / site.region / site.cloud_id / file_id


def attached_files(site: Site, key: str, files: dict[str, bytes]) -> list[dict[str, str]]:
    """Attach `files` to `key`; their listing entries once none is pending (bounded)."""
    for name, data in files.items():
        made = site.request(
            "POST",
            f"/rest/issues/issues/{key}/attachments",
            files={"file": (name, data, "application/octet-stream")},
        )
        assert made.status_code == 201, made.text
    deadline = time.monotonic() + 240
    while True:
        answer = site.request("GET", f"/rest/issues/issues/{key}/attachments")
        assert answer.status_code == 200, answer.text
        listed = answer.json()["attachments"]
        assert len(listed) == len(files), listed
        if all(f["status"] != "pending" for f in listed) or time.monotonic() > deadline:
            return list(listed)
        time.sleep(0.3)


def test_attachments_of_an_issue_deleted_while_media_is_frozen_are_deleted_later(
    fleet_cloud: Cloud,
) -> None:
    """Frozen is media's process alone: in the fleet layout, where it has one of its own."""
    cloud = fleet_cloud
    site = signup(cloud, region="eu", prefix="frozen")
    site.create_project()
    key = site.create_issue("Deleted while media sleeps")["key"]
    kept_key = site.create_issue("Stays")["key"]
    files = attached_files(site, key, {"chart.png": png(), "report.pdf": pdf(1)})
    [kept] = attached_files(site, kept_key, {"keep.png": png()})
    stored = [stored_file(cloud, site, f["id"]) for f in files]
    assert all(path.is_dir() for path in stored)

    media = cloud.pids()["media-eu"]
    os.kill(media, signal.SIGSTOP)
    try:
        issue_id = site.request("GET", f"/rest/issues/issues/{key}").json()["id"]
        deleted = site.request("DELETE", f"/rest/issues/issues/{key}")
        assert deleted.status_code == 204, deleted.text
        gone = site.request("GET", f"/rest/issues/issues/{key}")
        assert gone.status_code == 404
        purge_from_trash(site, issue_id)  # the attachments are to go now
        # Media could not have acted: the files are still there, waiting in the outbox.
        assert all(path.is_dir() for path in stored)
    finally:
        os.kill(media, signal.SIGCONT)

    def forgotten() -> bool:
        return all(media_forgot(cloud, site.cloud_id, f["id"]) for f in files)

    deadline = time.monotonic() + WAIT_SECONDS
    while not forgotten() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert forgotten()
    assert all(path.is_dir() for path in stored)  # retired: kept for the backup window
    with cloud.http("eu") as plain:
        for file in files:
            answer = plain.get(file["download_url"])
            assert answer.status_code == 404, answer.text
        still = plain.get(kept["download_url"])
        assert still.status_code == 200 and still.content == png()
