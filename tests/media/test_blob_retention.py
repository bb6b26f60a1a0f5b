"""A deleted file is unreadable through the API at once, but its blobs stay where they are (the
local store and S3 alike) until the backup window has passed, so a restore finds every blob its
rows name; then the loop removes them. Time is a settable clock: no test sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from issues_harness import FixedDataKeys
from settable_clock import SettableClock
from tenantry.platform.blobstore import BlobStore
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.storage import Databases
from tenantry.platform.topology import DAY_SECONDS, load_topology
from tenantry.services.media.blob_retirements import BlobRetirements
from tenantry.services.media.blobs import EncryptedBlobs
from tenantry.services.media.processing import Processor
from tenantry.services.media.render import thread_renderer
from tenantry.services.media.routes import build_router
from tenantry.services.media.service import Media

from .conftest import LIMITS
from .harness import HeaderContextMiddleware, MediaHarness, media_tokens
from .test_media_api import stored_bytes

WINDOW = load_topology().backup.retention_seconds


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def kept(
    databases: Databases, store: BlobStore, tmp_path: Path, clock: SettableClock
) -> Iterator[tuple[MediaHarness, BlobRetirements]]:
    """Media with its blob retirements, as `up` runs it, over either store."""
    tokens = media_tokens(tmp_path / "keys")
    encrypted = EncryptedBlobs(store)
    retirements = BlobRetirements(databases, encrypted, ["eu-1"], WINDOW, clock=clock)
    media = Media(
        databases,
        FixedDataKeys(),
        encrypted,
        LIMITS,
        Processor(databases, encrypted, thread_renderer()),
        retire=retirements.retire,
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(media, tokens))
    app.add_middleware(HeaderContextMiddleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield MediaHarness(client, media, store, tokens), retirements


def test_the_window_is_the_backup_retention_thirty_days_by_default() -> None:
    assert WINDOW == 30 * DAY_SECONDS


def test_a_deleted_file_stays_stored_for_the_backup_window_then_goes(
    kept: tuple[MediaHarness, BlobRetirements], clock: SettableClock
) -> None:
    harness, retirements = kept
    made = harness.request(
        "POST",
        "/collections/issues:OPS-1/files",
        token=harness.token(),
        params={"name": "notes.txt"},
        content=b"plain notes",
        headers={"content-type": "application/octet-stream"},
    )
    assert made.status_code == 201, made.text
    file_id = made.json()["id"]
    harness.settle()
    stored = stored_bytes(harness)
    assert stored

    deleted = harness.request("DELETE", f"/files/{file_id}", token=harness.token())
    assert deleted.status_code == 204
    for path in (f"/files/{file_id}", f"/files/{file_id}/content"):
        gone = harness.request("GET", path, token=harness.token())
        assert gone.status_code == 404, path  # unreadable through the API at once
    assert stored_bytes(harness) == stored  # every blob still where its rows named it

    clock.now += WINDOW - 1
    assert asyncio.run(retirements.remove_due()) == 0
    assert stored_bytes(harness) == stored
    clock.now += 1
    assert asyncio.run(retirements.remove_due()) == 1
    assert stored_bytes(harness) == b""
