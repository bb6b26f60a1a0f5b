"""media reseals a tenant's blobs under its current data key: every original, preview page,
thumbnail and upload chunk, on both blob stores; a reseal that breaks part way loses nothing and
the next run finishes it; files still being rendered are left for a later pass."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tenantry.platform.blobstore import BlobStore
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.crypto import DataKey, stream_key_version
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.storage import Databases
from tenantry.services.media.blobs import EncryptedBlobs
from tenantry.services.media.models import MediaFile
from tenantry.services.media.processing import Processor
from tenantry.services.media.render import Rendered, thread_renderer
from tenantry.services.media.reseal import build_reseal_router
from tenantry.services.media.routes import build_router
from tenantry.services.media.service import Media

from .conftest import LIMITS
from .harness import HeaderContextMiddleware, MediaHarness, media_tokens


class RotatingDataKeys(DataKeys):
    """Data keys without a kms whose current version a test moves on."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]  # never called
        self.keys = {1: DataKey(1, os.urandom(32))}

    def rotate(self) -> int:
        version = max(self.keys) + 1
        self.keys[version] = DataKey(version, os.urandom(32))
        return version

    async def for_tenant(self, min_version: int = 0) -> TenantKeys:
        return TenantKeys(self.keys[max(self.keys)], dict(self.keys))


class FlakyStore:
    """A blob store that breaks the `fail_at`-th write part way through (a crash mid-write)."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.fail_at: int | None = None
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_chunks(self, key: str, chunks: Iterable[bytes]) -> int:
        self.writes += 1
        if self.writes == self.fail_at:
            return self.inner.put_chunks(key, _break_after_first(chunks))
        return self.inner.put_chunks(key, chunks)


def _break_after_first(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        raise OSError("the disk went away")


class Gate:
    """Holds renders until opened, so a file stays `pending` as long as a test wants."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.render = thread_renderer()

    async def __call__(self, data: bytes) -> Rendered:
        await asyncio.to_thread(self.open.wait, 60)
        return await self.render(data)


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def setup(
    databases: Databases, store: BlobStore, tmp_path: Path
) -> Iterator[tuple[MediaHarness, RotatingDataKeys, FlakyStore, Gate]]:
    flaky, keys, gate = FlakyStore(store), RotatingDataKeys(), Gate()
    gate.open.set()
    encrypted = EncryptedBlobs(flaky)  # type: ignore[arg-type]  # a BlobStore by its methods
    media = Media(databases, keys, encrypted, LIMITS, Processor(databases, encrypted, gate))
    tokens = media_tokens(tmp_path / "keys")
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(media, tokens))
    app.include_router(build_reseal_router(media))
    app.add_middleware(HeaderContextMiddleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield MediaHarness(client, media, store, tokens), keys, flaky, gate


def reseal(harness: MediaHarness, tenant: str = "t1", **body: Any) -> Any:
    return harness.client.post(
        "/internal/media/reseal", headers={"x-test-tenant": tenant}, json=body
    )


def reseal_all(harness: MediaHarness, version: int, limit: int = 1) -> list[dict[str, Any]]:
    answers, cursor = [], None
    while True:
        answer = reseal(harness, cursor=cursor, limit=limit, min_version=version)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return answers


def blob_versions(store: BlobStore, tenant: str = "t1") -> dict[str, int]:
    """The key version each stored blob of `tenant` names in its header."""
    if hasattr(store, "root"):
        root = Path(store.root) / tenant
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
        names = [n for n in names if not Path(n).name.startswith(".")]
    else:
        client, bucket = store._client, store.bucket  # type: ignore[attr-defined]
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        names = [o["Key"].split(f"/{tenant}/", 1)[1] for o in listed if f"/{tenant}/" in o["Key"]]
    return {name: stream_key_version(store.get(f"{tenant}/{name}")) for name in names}


def file_versions(databases: Databases) -> set[int]:
    """The key versions t1's file rows name."""
    tenant = TenantContext("t1", "site-t1", "eu", "eu-1", "active")
    with tenant_scope(tenant), databases.session() as session:
        return set(session.rows(select(MediaFile.key_version)).scalars())


def test_every_blob_is_resealed_and_reads_back(
    setup: tuple[MediaHarness, RotatingDataKeys, FlakyStore, Gate], databases: Databases
) -> None:
    harness, keys, _, _ = setup
    images = {f"{n}.png": png((n * 40, 10, 10)) for n in range(3)}
    ids = {name: harness.upload(data, name=name).json()["id"] for name, data in images.items()}
    other = harness.upload(b"another tenant's", token=harness.token(tenant="t2"), tenant="t2")
    assert other.status_code == 201, other.text
    harness.settle()
    token = harness.token()
    previews = {
        name: harness.request("GET", f"/files/{fid}/preview/1", token=token).content
        for name, fid in ids.items()
    }
    before = blob_versions(harness.store)
    assert set(before.values()) == {1} and len(before) == 9  # original, a page, a thumbnail each

    version = keys.rotate()
    answers = reseal_all(harness, version)
    assert sum(a["resealed"] for a in answers) == 3
    assert [a["remaining"] for a in answers][:3] == [2, 1, 0]
    assert {a["deferred"] for a in answers} == {0}
    after = blob_versions(harness.store)
    assert set(after) == set(before) and set(after.values()) == {2}
    assert file_versions(databases) == {2}
    assert set(blob_versions(harness.store, "t2").values()) == {1}  # only this tenant's
    for name, fid in ids.items():
        download = harness.request("GET", f"/files/{fid}/content", token=token)
        assert download.status_code == 200 and download.content == images[name]
        page = harness.request("GET", f"/files/{fid}/preview/1", token=token)
        assert page.status_code == 200 and page.content == previews[name]
        thumb = harness.request("GET", f"/files/{fid}/thumbnail", token=token)
        assert thumb.status_code == 200
    # Resumed or run again: nothing left to do.
    assert sum(a["resealed"] for a in reseal_all(harness, version, limit=50)) == 0


def test_a_reseal_that_breaks_mid_write_loses_nothing_and_a_rerun_finishes(
    setup: tuple[MediaHarness, RotatingDataKeys, FlakyStore, Gate], databases: Databases
) -> None:
    harness, keys, flaky, _ = setup
    data = os.urandom(3 * 1024 * 1024 + 5)  # several frames: the break comes after the first
    fid = harness.upload(data, name="big.bin").json()["id"]
    harness.settle()
    version = keys.rotate()
    flaky.fail_at = flaky.writes + 1  # the first rewrite breaks part way
    broken = reseal(harness, limit=10, min_version=version)
    assert broken.status_code == 500
    assert blob_versions(harness.store) == {f"{fid}/original": 1}  # the old blob, whole
    assert file_versions(databases) == {1}
    download = harness.request("GET", f"/files/{fid}/content", token=harness.token())
    assert download.status_code == 200 and download.content == data

    answers = reseal_all(harness, version, limit=10)
    assert sum(a["resealed"] for a in answers) == 1
    assert blob_versions(harness.store) == {f"{fid}/original": 2}
    assert file_versions(databases) == {2}
    download = harness.request("GET", f"/files/{fid}/content", token=harness.token())
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(data).digest()


def test_a_crash_between_blob_and_row_is_finished_by_the_next_run(
    setup: tuple[MediaHarness, RotatingDataKeys, FlakyStore, Gate], databases: Databases
) -> None:
    harness, keys, flaky, _ = setup
    fid = harness.upload(png((1, 2, 3)), name="a.png").json()["id"]
    harness.settle()
    version = keys.rotate()
    flaky.fail_at = flaky.writes + 2  # the original is rewritten, then the page write breaks
    assert reseal(harness, limit=10, min_version=version).status_code == 500
    stored = blob_versions(harness.store)
    assert stored[f"{fid}/original"] == 2 and stored[f"{fid}/preview/1"] == 1
    assert file_versions(databases) == {1}  # the row moves only once every blob is done
    token = harness.token()
    assert harness.request("GET", f"/files/{fid}/content", token=token).status_code == 200
    assert harness.request("GET", f"/files/{fid}/preview/1", token=token).status_code == 200

    assert sum(a["resealed"] for a in reseal_all(harness, version, limit=10)) == 1
    assert set(blob_versions(harness.store).values()) == {2}
    assert file_versions(databases) == {2}


def test_files_still_rendering_are_deferred_until_done(
    setup: tuple[MediaHarness, RotatingDataKeys, FlakyStore, Gate], databases: Databases
) -> None:
    harness, keys, _, gate = setup
    gate.open.clear()
    fid = harness.upload(png((9, 9, 9)), name="slow.png").json()["id"]
    version = keys.rotate()
    answers = reseal_all(harness, version, limit=10)
    assert sum(a["deferred"] for a in answers) == 1
    assert sum(a["resealed"] for a in answers) == 0
    assert file_versions(databases) == {1}
    gate.open.set()
    harness.settle()
    answers = reseal_all(harness, version, limit=10)
    assert sum(a["deferred"] for a in answers) == 0
    assert sum(a["resealed"] for a in answers) == 1
    assert set(blob_versions(harness.store).values()) == {2}
    page = harness.request("GET", f"/files/{fid}/preview/1", token=harness.token())
    assert page.status_code == 200


def test_upload_chunks_under_way_are_resealed(
    setup: tuple[MediaHarness, RotatingDataKeys, FlakyStore, Gate],
) -> None:
    harness, keys, _, _ = setup
    data = os.urandom(2 * 65536)
    token = harness.token()
    upload = harness.request(
        "POST",
        "/collections/issues:OPS-1/uploads",
        token=token,
        json={"name": "big.bin", "size": len(data), "chunk_size": 65536},
    ).json()
    first = data[:65536]
    sent = harness.request(
        "PUT",
        f"/uploads/{upload['id']}/chunks/0",
        token=token,
        params={"sha256": hashlib.sha256(first).hexdigest()},
        content=first,
    )
    assert sent.status_code == 200, sent.text
    version = keys.rotate()
    assert sum(a["resealed"] for a in reseal_all(harness, version)) == 1
    assert blob_versions(harness.store) == {f"uploads/{upload['id']}/0": 2}
    second = data[65536:]
    harness.request(
        "PUT",
        f"/uploads/{upload['id']}/chunks/1",
        token=token,
        params={"sha256": hashlib.sha256(second).hexdigest()},
        content=second,
    )
    done = harness.request("POST", f"/uploads/{upload['id']}/complete", token=token)
    assert done.status_code == 201, done.text
    download = harness.request("GET", f"/files/{done.json()['id']}/content", token=token)
    assert download.content == data


def test_reseal_needs_a_tenant_and_a_cursor_it_handed_out(
    setup: tuple[MediaHarness, RotatingDataKeys, FlakyStore, Gate],
) -> None:
    harness = setup[0]
    anonymous = harness.client.post("/internal/media/reseal", json={})
    assert anonymous.status_code == 400 and anonymous.json()["error"] == "tenant_required"
    for cursor in ("elsewhere:1", "chunks:no-index", "chunks:a/b"):
        refused = reseal(harness, cursor=cursor)
        assert refused.status_code == 422, cursor
        assert refused.json()["error"] == "invalid_cursor"
    assert reseal(harness, limit=0).status_code == 422
