"""Only media holds the media store: its location and credentials reach no other process, and no
other package may import the blob stores. Run against a cloud whose media store is S3 (moto)."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tenantry
from e2e.api import signup
from e2e.cloud import FLEET, Cloud
from tenantry.cli.processes import service_environment

from .conftest import s3_client
from .edge_links import bare, mint, wait_until_processed

pytestmark = pytest.mark.backend_neutral

SECRET_KEY = f"media-secret-{uuid.uuid4().hex}"
PLAINTEXT = b"payroll for march: alice 9000, bob 8000. " * 200


def test_children_get_media_settings_only_for_media() -> None:
    environ = {"PATH": "/bin", "TENANTRY_MEDIA_S3_SECRET_ACCESS_KEY": "s", "TENANTRY_X": "1"}
    assert service_environment(("media",), environ) == environ
    assert service_environment(("edge", "issues", "kms", "media"), environ) == environ
    for service in ("edge", "issues", "kms", "identity", "tcs"):
        assert service_environment((service,), environ) == {"PATH": "/bin", "TENANTRY_X": "1"}


def test_no_other_package_may_import_the_blob_stores() -> None:
    pyproject = Path(tenantry.__file__).parents[2] / "pyproject.toml"
    contracts = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
    (guard,) = [
        c for c in contracts if c.get("forbidden_modules") == ["tenantry.platform.blobstore"]
    ]
    services = Path(tenantry.__file__).parent / "services"
    others = {
        f"tenantry.services.{p.name}"
        for p in services.iterdir()
        if (p / "__init__.py").exists() and p.name not in ("media", "backup")
    }
    assert others | {"tenantry.cli"} <= set(guard["source_modules"])
    independent = next(c for c in contracts if c["type"] == "independence")
    assert "tenantry.services.media" in independent["modules"]


@pytest.fixture(scope="module")
def s3_cloud(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, storage_backend: str
) -> Iterator[tuple[Cloud, object, str]]:
    client = s3_client(s3_endpoint)
    bucket = f"cloud-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    env = {
        "TENANTRY_MEDIA_STORE": "s3",
        "TENANTRY_MEDIA_S3_BUCKET": bucket,
        "TENANTRY_MEDIA_S3_PREFIX": "media",
        "TENANTRY_MEDIA_S3_ENDPOINT_URL": s3_endpoint,
        "TENANTRY_MEDIA_S3_ACCESS_KEY_ID": "testing",
        "TENANTRY_MEDIA_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    # The fleet layout, where media's processes are media's alone.
    cloud = Cloud.start(tmp_path_factory.mktemp("s3cloud") / "data", env=env, layout=FLEET)
    try:
        yield cloud, client, bucket
    finally:
        cloud.stop()


@pytest.mark.e2e
def test_store_credentials_reach_media_processes_only(s3_cloud: tuple[Cloud, object, str]) -> None:
    cloud, _, bucket = s3_cloud
    with_media = {cloud.process_of("media", region) for region in cloud.edges}
    seen = {}
    for name, pid in cloud.pids().items():
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        seen[name] = SECRET_KEY.encode() in environ or bucket.encode() in environ
        assert (b"TENANTRY_MEDIA_" in environ) == (name in with_media), name
    assert {name for name, holds in seen.items() if holds} == with_media
    assert with_media and with_media != set(seen)
    config = [p for p in (cloud.data_dir).rglob("*.json") if p.is_file()]
    config += [p for p in (cloud.data_dir).rglob("*.toml") if p.is_file()]
    for path in config:
        assert SECRET_KEY not in path.read_text(errors="replace"), path


@pytest.mark.e2e
def test_s3_cloud_round_trip_keeps_no_plaintext(s3_cloud: tuple[Cloud, object, str]) -> None:
    cloud, client, bucket = s3_cloud
    site = signup(cloud, region="au", prefix="media-s3")
    token = mint(cloud, site, "issues:PAY-1")
    with bare(cloud, "au") as http:
        created = http.post(
            "/rest/media/collections/issues:PAY-1/files",
            params={"token": token},
            files={"file": ("payroll.txt", PLAINTEXT, "text/plain")},
        )
        assert created.status_code == 201, created.text
        file_id = created.json()["id"]
        assert wait_until_processed(http, file_id, token)["status"] == "failed"
        download = http.get(f"/rest/media/files/{file_id}/content", params={"token": token})
        assert download.content == PLAINTEXT
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]  # type: ignore[attr-defined]
    keys = [item["Key"] for item in listed]
    assert f"media/{site.cloud_id}/{file_id}/original" in keys
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
        assert b"payroll" not in body
    assert not (cloud.data_dir / "media").exists()  # nothing went to the local default
