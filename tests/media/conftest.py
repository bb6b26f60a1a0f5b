"""Fixtures of the media tests: both blob stores (a local directory, and S3 on a local moto
server with dummy credentials, never real AWS), fresh media databases, and the app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient

from backends import fresh_databases
from kms.moto_server import moto_kms_server
from tenantry.platform.blobstore import BlobStore
from tenantry.platform.blobstore.local import LocalBlobStore
from tenantry.platform.blobstore.s3 import S3BlobStore
from tenantry.platform.storage import Databases
from tenantry.services.media.limits import Limits
from tenantry.services.media.models import SCHEMA

from .harness import MediaHarness, build_media_app, media_tokens

S3_REGION = "us-east-1"
LIMITS = Limits(max_file_bytes=12 * 1024 * 1024, quota_bytes=40 * 1024 * 1024)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's server on loopback (the kms tests' helper: it serves S3 as well)."""
    with moto_kms_server() as endpoint:
        yield endpoint


def s3_client(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> tuple[object, str]:
    client = s3_client(s3_endpoint)
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    return client, bucket


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    client, bucket = request.getfixturevalue("s3_bucket")
    return S3BlobStore(client, bucket, prefix="eu")


@pytest.fixture
def databases(tmp_path: Path, storage_backend: str) -> Iterator[Databases]:
    with fresh_databases(SCHEMA, tmp_path) as dbs:
        yield dbs


@pytest.fixture
def harness(databases: Databases, store: BlobStore, tmp_path: Path) -> Iterator[MediaHarness]:
    tokens = media_tokens(tmp_path / "keys")
    app, media = build_media_app(databases, store, tokens, LIMITS)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield MediaHarness(client, media, store, tokens)
