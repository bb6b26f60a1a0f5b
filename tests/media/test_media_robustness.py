"""Media under pressure: concurrent uploads near the quota never pass it, deleting a
collection removes its files, rows and bytes (and gives the quota back), and a file left
`pending` by a stop is queued again on the next start."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.services.media import store
from tenantry.services.media.requeue import Requeue

from .conftest import LIMITS
from .harness import MediaHarness

MIB = 1024 * 1024
TENANT = TenantContext("t1", "site-t1", "eu", "eu-1", "active")


def used(harness: MediaHarness, tenant: TenantContext = TENANT) -> int:
    with tenant_scope(tenant), harness.media.databases.session() as session:
        return store.used_bytes(session)


def test_concurrent_uploads_never_pass_the_quota(harness: MediaHarness) -> None:
    size = 5 * MIB
    fits = LIMITS.quota_bytes // size
    token = harness.token()

    def send(number: int) -> Any:
        return harness.upload(bytes([number]) * size, name=f"f{number}.bin", token=token)

    with ThreadPoolExecutor(max_workers=fits * 2) as pool:
        answers = list(pool.map(send, range(fits * 2)))
    accepted = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code != 201]
    assert len(accepted) == fits
    assert {(a.status_code, a.json()["error"]) for a in refused} == {(413, "quota_exceeded")}
    harness.settle()
    listed = harness.request("GET", "/collections/issues:OPS-1/files", token=token).json()
    assert sum(f["size"] for f in listed["files"]) == fits * size <= LIMITS.quota_bytes
    assert used(harness) == fits * size
    # Deleting a file gives its bytes back: exactly one more fits.
    gone = harness.request("DELETE", f"/files/{accepted[0].json()['id']}", token=token)
    assert gone.status_code == 204
    assert send(99).status_code == 201
    assert send(100).json()["error"] == "quota_exceeded"


def test_concurrent_reservations_race_on_the_database(harness: MediaHarness) -> None:
    """Threads, each its own transaction, reserving at once: the usage row decides."""
    size = 4 * MIB
    fits = LIMITS.quota_bytes // size

    def reserve(number: int) -> str:
        with tenant_scope(TENANT):
            try:
                harness.media.start_upload("issues:OPS-2", f"u{number}", size, None)
            except ApiError as refused:
                return refused.code
            return "reserved"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(reserve, range(fits * 3)))
    assert outcomes.count("reserved") == fits
    assert set(outcomes) == {"reserved", "quota_exceeded"}
    assert used(harness) == fits * size


def internal(harness: MediaHarness, method: str, path: str, token: str, tenant: str = "t1") -> Any:
    return harness.client.request(
        method, f"/internal/media{path}", params={"token": token}, headers={"x-test-tenant": tenant}
    )


def test_deleting_a_collection_removes_its_files_bytes_and_usage(harness: MediaHarness) -> None:
    doomed = "issues:OPS-7"
    doomed_token = harness.token(collection=doomed)
    ids = [harness.upload(b"doomed %d" % n, collection=doomed).json()["id"] for n in range(2)]
    started = harness.request(
        "POST", f"/collections/{doomed}/uploads", token=doomed_token, json={"size": 3 * MIB}
    )
    assert started.status_code == 201, started.text
    kept = harness.upload(b"kept", collection="issues:OPS-8").json()["id"]
    harness.settle()
    assert harness.store.exists(f"t1/{ids[0]}/original")
    # Only a token for this collection, naming `delete`, may do it.
    for token in (
        harness.token(collection=doomed, actions=("read", "insert", "update")),
        harness.token(collection="issues:OPS-8"),
    ):
        refused = internal(harness, "DELETE", f"/collections/{doomed}", token)
        assert refused.status_code == 403, refused.text
    assert internal(harness, "DELETE", f"/collections/{doomed}", doomed_token).status_code == 204
    for file_id in ids:
        assert harness.request("GET", f"/files/{file_id}", token=doomed_token).status_code == 404
        assert not harness.store.exists(f"t1/{file_id}/original")
    listed = harness.request("GET", f"/collections/{doomed}/files", token=doomed_token)
    assert listed.json()["files"] == []
    upload = harness.request("GET", f"/uploads/{started.json()['id']}", token=doomed_token)
    assert upload.status_code == 404
    assert used(harness) == len(b"kept")
    download = harness.request(
        "GET", f"/files/{kept}/content", token=harness.token(collection="issues:OPS-8")
    )
    assert download.content == b"kept"


def test_a_file_left_pending_by_a_stop_is_queued_again(
    harness: MediaHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = harness.media
    # A stop in the middle: the file is stored and queued, but its render never ran.
    monkeypatch.setattr(media.processor, "submit", lambda row, keys: None)
    file_id = harness.upload(b"\x89PNG broken", name="left.png").json()["id"]
    gone = harness.upload(b"deleted meanwhile", name="gone.bin").json()["id"]
    assert harness.request("DELETE", f"/files/{gone}", token=harness.token()).status_code == 204
    monkeypatch.undo()
    with tenant_scope(TENANT):
        assert harness.media.file(file_id).status == "pending"
    assert {w.file_id for w in media.processor.queue.waiting("eu-1")} == {file_id, gone}

    # tcs is still starting at first (503): the shard is tried again until it answers.
    tcs = FakeTcs([503, 200])
    requeue = Requeue(media, tcs, FakeContexts(), ["eu-1"])  # type: ignore[arg-type]
    harness.client.portal.call(requeue.loop.run)  # type: ignore[union-attr]
    assert tcs.asked == 2
    found = harness.wait_status(file_id)
    assert found["status"] == "failed" and found["reason"]
    assert media.processor.queue.waiting("eu-1") == []


def test_files_of_a_tenant_that_is_gone_leave_the_queue(
    harness: MediaHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = harness.media
    monkeypatch.setattr(media.processor, "submit", lambda row, keys: None)
    harness.upload(b"orphan", name="orphan.bin")
    monkeypatch.undo()
    assert len(media.processor.queue.waiting("eu-1")) == 1
    requeue = Requeue(media, FakeTcs([404]), FakeContexts(), ["eu-1"])  # type: ignore[arg-type]
    assert harness.client.portal.call(requeue.shard, "eu-1") == 0  # type: ignore[union-attr]
    assert media.processor.queue.waiting("eu-1") == []


class FakeContexts:
    """Stands in for the tenant context verifier: the one context tcs hands out is TENANT's."""

    def verify(self, token: str, now: float) -> TenantContext:
        assert token == "signed-context-of-site-t1"
        return TENANT


@dataclass
class FakeAnswer:
    status: int

    def json(self) -> dict[str, str]:
        return {"context": "signed-context-of-site-t1"}


@dataclass
class FakeTcs:
    """Answers tcs's by-site lookup with the given statuses in turn (the last one repeats)."""

    statuses: list[int]
    asked: int = 0

    async def call(self, callee: str, method: str, route: str, **kw: Any) -> FakeAnswer:
        assert (callee, method, route) == ("tcs", "GET", "/internal/tcs/tenants/by-site/{site}")
        assert kw["params"] == {"site": "site-t1"}
        status = self.statuses[min(self.asked, len(self.statuses) - 1)]
        self.asked += 1
        return FakeAnswer(status)


def test_a_large_download_streams_frame_by_frame_and_stops_at_a_bad_frame(
    harness: MediaHarness,
) -> None:
    data = os.urandom(6 * MIB + 4)
    file_id = harness.upload(data, name="big.bin").json()["id"]
    harness.settle()
    token = harness.token()
    whole = harness.request("GET", f"/files/{file_id}/content", token=token)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-length"] == str(len(data))
    key = f"t1/{file_id}/original"
    sealed = harness.store.get(key)
    at = 48 + 4 * (MIB + 16) + 100  # inside frame 4
    harness.store.put(key, sealed[:at] + bytes([sealed[at] ^ 1]) + sealed[at + 1 :])
    cut = harness.request("GET", f"/files/{file_id}/content", token=token)
    received = cut.content
    assert cut.status_code == 200 and cut.headers["content-length"] == str(len(data))
    # At most the frames before the bad one arrived, and nothing of it or after it.
    assert len(received) <= 4 * MIB
    assert received == data[: len(received)]
