"""Both blob stores keep the same promises: round trips, all-or-nothing writes, safe keys."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantry.platform.blobstore import BlobStore, InvalidBlobKey
from tenantry.platform.blobstore.choose import BlobStoreConfigError, blob_store_from_env
from tenantry.platform.blobstore.local import LocalBlobStore
from tenantry.platform.blobstore.s3 import S3BlobStore

from .conftest import s3_client


def test_round_trip(store: BlobStore) -> None:
    store.put("t1/f1/original", b"sealed bytes")
    assert store.exists("t1/f1/original")
    assert store.get("t1/f1/original") == b"sealed bytes"
    store.put("t1/f1/original", b"replaced")
    assert b"".join(store.open("t1/f1/original")) == b"replaced"
    store.delete("t1/f1/original")
    store.delete("t1/f1/original")  # already gone: no error
    assert not store.exists("t1/f1/original")
    with pytest.raises(KeyError):
        store.get("t1/f1/original")
    with pytest.raises(KeyError):
        store.open("t1/never")


def test_large_blob_in_chunks(store: BlobStore) -> None:
    piece = os.urandom(1024 * 1024)
    written = store.put_chunks("t1/big", (piece for _ in range(10)))  # over S3's multipart size
    assert written == 10 * len(piece)
    assert store.get("t1/big") == piece * 10


def test_delete_prefix_removes_only_that_tree(store: BlobStore) -> None:
    for key in ("t1/f1/original", "t1/f1/preview/1", "t1/f10/original", "t2/f1/original"):
        store.put(key, b"x")
    store.delete_prefix("t1/f1")
    assert not store.exists("t1/f1/original")
    assert not store.exists("t1/f1/preview/1")
    assert store.exists("t1/f10/original")
    assert store.exists("t2/f1/original")


def test_failed_write_keeps_the_old_bytes(store: BlobStore) -> None:
    store.put("t1/f1/original", b"old")

    def broken() -> Iterator[bytes]:
        yield b"new " * 1000
        raise RuntimeError("the source failed half way")

    with pytest.raises(RuntimeError):
        store.put_chunks("t1/f1/original", broken())
    assert store.get("t1/f1/original") == b"old"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "t1/../../etc/passwd",
        "/abs",
        "t1//x",
        "t1/./x",
        "t1\\x",
        ".hidden",
        "t1/x/",
        "t1/\x00",
        "a" * 600,
    ],
)
def test_unsafe_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        store.put(key, b"x")
    with pytest.raises(InvalidBlobKey):
        store.get(key)


def test_local_store_is_private(tmp_path: Path) -> None:
    local = LocalBlobStore(tmp_path / "store")
    local.put("t1/f1/original", b"x")
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "store" / "t1" / "f1").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "store" / "t1" / "f1" / "original").stat().st_mode) == 0o600
    assert not [p for p in (tmp_path / "store").rglob(".*.tmp")]  # nothing left half written


def test_local_store_refuses_a_symlink_out(tmp_path: Path) -> None:
    local = LocalBlobStore(tmp_path / "store")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not media's")
    (tmp_path / "store" / "t1").symlink_to(outside)
    with pytest.raises(KeyError):
        local.get("t1/secret")


def test_chosen_from_the_environment(tmp_path: Path, s3_endpoint: str) -> None:
    default = blob_store_from_env({}, "TENANTRY_MEDIA_", tmp_path / "default")
    assert isinstance(default, LocalBlobStore) and default.root == (tmp_path / "default").resolve()
    s3_client(s3_endpoint).create_bucket(Bucket="chosen")  # type: ignore[attr-defined]
    chosen = blob_store_from_env(
        {
            "TENANTRY_MEDIA_STORE": "s3",
            "TENANTRY_MEDIA_S3_BUCKET": "chosen",
            "TENANTRY_MEDIA_S3_PREFIX": "eu",
            "TENANTRY_MEDIA_S3_ENDPOINT_URL": s3_endpoint,
            "TENANTRY_MEDIA_S3_ACCESS_KEY_ID": "testing",
            "TENANTRY_MEDIA_S3_SECRET_ACCESS_KEY": "testing",
        },
        "TENANTRY_MEDIA_",
        tmp_path / "unused",
    )
    assert isinstance(chosen, S3BlobStore)
    chosen.put("t1/x", b"in s3")
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket="chosen")  # type: ignore[attr-defined]
    assert [item["Key"] for item in listed["Contents"]] == ["eu/t1/x"]
    with pytest.raises(BlobStoreConfigError):
        blob_store_from_env({"TENANTRY_MEDIA_STORE": "s3"}, "TENANTRY_MEDIA_", tmp_path)
    with pytest.raises(BlobStoreConfigError):
        blob_store_from_env({"TENANTRY_MEDIA_STORE": "ftp"}, "TENANTRY_MEDIA_", tmp_path)
