"""A large attachment through the public API of a real cloud: 100 MiB sent in checked chunks
through the edge, resumed half way with a fresh token, completed, and downloaded byte for byte,
while no process of the cloud holds more than a few chunks of it in memory."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .api import Site, purge_from_trash, signup
from .cloud import Cloud
from .stored import media_forgot

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
SIZE = 100 * MIB
CHUNK = 4 * MIB
SEED = 20240611
MEMORY_BOUND = 48 * MIB
"""How much any one process of the cloud may grow while the file passes. Holding the whole file
anywhere would add its 100 MiB; holding a few 4 MiB chunks and 1 MiB frames at a time (and what
the allocator keeps of them per thread) stays well under this."""


def content(size: int = SIZE, piece: int = CHUNK) -> Iterator[bytes]:
    """The file, piece by piece, the same every time (so neither side keeps all of it)."""
    generator = random.Random(SEED)
    for start in range(0, size, piece):
        yield generator.randbytes(min(piece, size - start))


def memory(pid: int) -> dict[str, int]:
    """A process's resident set now and at its peak (since the peak was last reset), in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def reset_peaks(pids: dict[str, int]) -> dict[str, int]:
    """Start counting every process's peak from now (Linux `clear_refs` 5); its RSS now."""
    for pid in pids.values():
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return {name: memory(pid)["VmRSS"] for name, pid in pids.items()}


def chunk_url(upload: dict[str, Any], index: int, sha256: str) -> str:
    """Where chunk `index` goes, as the upload's answer says (its token in the query)."""
    return upload["chunk_url"].replace("{index}", str(index)) + f"&sha256={sha256}"


def send_chunk(site: Site, upload: dict[str, Any], index: int, piece: bytes) -> Any:
    return site.http.put(
        chunk_url(upload, index, hashlib.sha256(piece).hexdigest()),
        content=piece,
        headers={"content-type": "application/octet-stream"},
        timeout=60,
    )


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Site:
    made = signup(cloud, region="eu", prefix="large")
    made.create_project()
    made.create_issue("Core dump of db-1")
    return made


def test_a_100_mib_file_goes_up_in_chunks_and_comes_back_byte_identical(
    cloud: Cloud, site: Site
) -> None:
    pids = cloud.pids()
    before = reset_peaks(pids)
    base = "/rest/issues/issues/OPS-1/attachments/uploads"

    started = site.request("POST", base, json={"name": "core.bin", "size": SIZE})
    assert started.status_code == 201, started.text
    upload = started.json()
    assert upload["chunks"] == SIZE // upload["chunk_size"]
    assert upload["missing"] == list(range(upload["chunks"]))
    assert upload["chunk_size"] == CHUNK
    pieces = content()

    # Each chunk is checked: one whose sha256 does not match is refused and not kept.
    first = next(pieces)
    wrong = site.http.put(
        chunk_url(upload, 0, hashlib.sha256(b"not this").hexdigest()), content=first, timeout=60
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "sha256_mismatch"
    assert send_chunk(site, upload, 0, first).status_code == 200

    half = upload["chunks"] // 2
    for index in range(1, half):
        sent = send_chunk(site, upload, index, next(pieces))
        assert sent.status_code == 200, sent.text
    # The client stops here; later it asks again and goes on with a fresh token.
    resumed = site.request("GET", f"{base}/{upload['upload_id']}")
    assert resumed.status_code == 200, resumed.text
    again = resumed.json()
    assert again["received"] == list(range(half))
    assert again["missing"] == list(range(half, upload["chunks"]))
    assert again["token"] != upload["token"]
    for index in again["missing"]:
        sent = send_chunk(site, again, index, next(pieces))
        assert sent.status_code == 200, sent.text

    digest = hashlib.sha256()
    for piece in content():
        digest.update(piece)
    done = site.request(
        "POST", f"{base}/{upload['upload_id']}/complete", params={"sha256": digest.hexdigest()}
    )
    assert done.status_code == 201, done.text
    attachment = done.json()
    assert (attachment["name"], attachment["size"]) == ("core.bin", SIZE)

    listed = site.request("GET", "/rest/issues/issues/OPS-1/attachments").json()["attachments"]
    [file] = [f for f in listed if f["id"] == attachment["id"]]
    expected = content(piece=MIB)
    pending = b""
    received = 0
    with cloud.http("eu") as plain, plain.stream("GET", file["download_url"]) as download:
        assert download.status_code == 200
        for part in download.iter_bytes():
            pending += part
            received += len(part)
            while len(pending) >= MIB:
                assert pending[:MIB] == next(expected)
                pending = pending[MIB:]
    assert received == SIZE and pending == b""

    grown = {name: memory(pid)["VmHWM"] - before[name] for name, pid in pids.items()}
    assert all(growth < MEMORY_BOUND for growth in grown.values()), grown

    # Deleting the attachment frees it: the link is gone and its bytes too.
    deleted = site.request("DELETE", f"/rest/issues/issues/OPS-1/attachments/{file['id']}")
    assert deleted.status_code == 204, deleted.text
    with cloud.http("eu") as plain:
        assert plain.get(file["download_url"]).status_code == 404
    purge_from_trash(site, file["id"])
    assert media_forgot(cloud, site.cloud_id, file["id"])  # its blobs kept for the backups


def test_a_chunk_token_serves_its_upload_alone(cloud: Cloud, site: Site) -> None:
    base = "/rest/issues/issues/OPS-1/attachments/uploads"
    upload = site.request("POST", base, json={"name": "a.bin", "size": 10}).json()
    other = site.request("POST", base, json={"name": "b.bin", "size": 10}).json()
    token = upload["token"]
    with cloud.http("eu") as plain:
        into_collection = plain.post(
            "/rest/media/collections/issues:OPS-1/files",
            params={"token": token},
            files={"file": ("x.bin", b"sneaked in")},
        )
        assert into_collection.status_code == 403, into_collection.text
        assert into_collection.json()["error"] == "media_token_wrong_upload"
        elsewhere = plain.put(
            other["chunk_url"].split("?")[0].replace("{index}", "0"),
            params={"token": token, "sha256": hashlib.sha256(b"0123456789").hexdigest()},
            content=b"0123456789",
        )
        assert elsewhere.status_code == 403
        assert elsewhere.json()["error"] == "media_token_wrong_upload"
    early = site.request("POST", f"{base}/{upload['upload_id']}/complete")
    assert early.status_code == 409 and early.json()["error"] == "upload_incomplete"
    # An upload is completed on the issue it was opened for, not another one.
    site.create_issue("Another issue")
    elsewhere_issue = site.request(
        "POST", f"/rest/issues/issues/OPS-2/attachments/uploads/{upload['upload_id']}/complete"
    )
    assert elsewhere_issue.status_code == 404, elsewhere_issue.text
    assert elsewhere_issue.json()["error"] == "upload_not_found"
    empty = site.request("POST", base, json={"name": "empty.bin", "size": 0})
    assert empty.status_code == 422 and empty.json()["error"] == "empty_file"
    too_big = site.request("POST", base, json={"name": "huge.bin", "size": 201 * MIB})
    assert too_big.status_code == 413 and too_big.json()["error"] == "file_too_large"
    hostile = site.request("POST", base, json={"name": "\u202egnp.exe", "size": 10})
    assert hostile.status_code == 422
